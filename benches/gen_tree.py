#!/usr/bin/env python3
"""Generate a deterministic tree of YAML files for the manifest scan benchmark.

Default: 10,000 files totalling about 100 MB in 100 folders, 1% of them carrying Flux setter
markers. Files are Kubernetes manifests, compose files and Helm values padded with realistic
blocks. The same arguments always produce the same bytes. A stamp file records the arguments, so a
second run with the same arguments does nothing.

usage: gen_tree.py TREE [--files N] [--megabytes M] [--marked-percent P] [--seed S]
"""

import argparse
import os
import random
import shutil

STAMP = ".deckhand-tree-stamp"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/part-of: {team}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
    spec:
      containers:
        - name: {name}
          image: {image}{marker}
          ports:
            - containerPort: {port}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
"""

COMPOSE = """\
services:
  {name}:
    image: "{image}"{marker}
    restart: unless-stopped
    environment:
      - LOG_LEVEL=info
      - PORT={port}
    ports:
      - "{port}:{port}"
"""

HELM = """\
# Default values for {name}.
replicaCount: {replicas}
image:
  repository: {repo}{name_marker}
  tag: "{tag}"{tag_marker}
  pullPolicy: IfNotPresent
"""

PAD_BLOCKS = [
    """\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config-{i}
data:
  app.properties: |
    server.port={port}
    feature.flag.{i}=true
    # image: not/a-marker:1.0 inside a block scalar
    cache.size={replicas}000
""",
    """\
---
apiVersion: v1
kind: Service
metadata:
  name: {name}-svc-{i}
  annotations:
    description: "service {i} for {name} in {ns}"
spec:
  selector:
    app.kubernetes.io/name: {name}
  ports:
    - name: http
      port: {port}
      targetPort: {port}
""",
    """\
# --- settings block {i} ---
x-settings-{i}: &settings{i}
  retries: {replicas}
  timeout: 30s   # seconds
  labels: [team-{team}, app-{name}]
x-derived-{i}:
  <<: *settings{i}
  note: 'derived settings, copy {i}'
""",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree")
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--megabytes", type=float, default=100.0)
    ap.add_argument("--marked-percent", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=20260101)
    args = ap.parse_args()

    stamp = f"files={args.files} megabytes={args.megabytes} marked={args.marked_percent} seed={args.seed} v1\n"
    stamp_path = os.path.join(args.tree, STAMP)
    if os.path.exists(stamp_path) and open(stamp_path).read() == stamp:
        print(f"tree {args.tree} is up to date")
        return
    if os.path.exists(args.tree):
        shutil.rmtree(args.tree)
    os.makedirs(args.tree)

    rng = random.Random(args.seed)
    target_total = int(args.megabytes * 1_000_000)
    mean = target_total / args.files
    marked_count = round(args.files * args.marked_percent / 100)
    marked = set(rng.sample(range(args.files), marked_count))
    folders = max(1, args.files // 100)
    total = 0
    markers = 0
    for n in range(args.files):
        team = f"team-{n % folders:03d}"
        name = f"app-{n:05d}"
        ns = f"ns-{n % 17}"
        ctx = dict(
            name=name,
            team=team,
            ns=ns,
            replicas=rng.randint(1, 9),
            port=rng.randint(1024, 65000),
            repo=f"registry.example:5000/{team}/{name}",
            tag=f"1.{rng.randint(0, 40)}.{rng.randint(0, 9)}",
        )
        ctx["image"] = f"{ctx['repo']}:{ctx['tag']}"
        is_marked = n in marked
        kind = n % 3
        if kind == 0:
            marker = f' # {{"$imagepolicy": "flux-system:{name}"}}' if is_marked else ""
            head = DEPLOYMENT.format(marker=marker, **ctx)
            markers += is_marked
            ext = ".yaml"
        elif kind == 1:
            marker = f' # {{"$imagepolicy": "flux-system:{name}"}}' if is_marked else "  # pinned"
            head = COMPOSE.format(marker=marker, **ctx)
            markers += is_marked
            ext = ".yml"
        else:
            nm = f' # {{"$imagepolicy": "flux-system:{name}:name"}}' if is_marked else ""
            tm = f' # {{"$imagepolicy": "flux-system:{name}:tag"}}' if is_marked else ""
            head = HELM.format(name_marker=nm, tag_marker=tm, **ctx)
            markers += 2 * is_marked
            ext = ".yaml"
        # Sizes vary between 0.2× and 1.8× the mean; the last file absorbs the remainder.
        want = int(mean * rng.uniform(0.2, 1.8))
        if n == args.files - 1:
            want = max(len(head), target_total - total)
        parts = [head]
        size = len(head)
        i = 0
        while size < want:
            block = rng.choice(PAD_BLOCKS).format(i=i, **ctx)
            if kind != 0 and block.startswith("---\n"):
                # Compose and Helm files are one document: nest the block under a key instead.
                body = block[len("---\n"):]
                block = f"pad{i}:\n" + "".join("  " + l if l.strip() else l for l in body.splitlines(True))
            parts.append(block)
            size += len(block)
            i += 1
        text = "".join(parts)
        folder = os.path.join(args.tree, team)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name + ext), "w", newline="") as f:
            f.write(text)
        total += len(text)

    with open(stamp_path, "w") as f:
        f.write(stamp)
    print(f"tree {args.tree}: {args.files} files, {total / 1e6:.1f} MB, {marked_count} marked files, {markers} markers")


if __name__ == "__main__":
    main()
