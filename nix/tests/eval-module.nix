# Evaluates nix/module.nix against the stub lib/pkgs: the module's own option defaults, overlaid
# with `values`, are its config (laziness ties the knot: no default reads a value it defines).
# Returns the module's config plus `failedAssertions`, the messages of the assertions that fail.
{ values ? { enable = true; }, docker ? true }:
let
  stub = import ./stub.nix;
  module = import ../module.nix {
    inherit (stub) lib pkgs utils;
    config = {
      virtualisation.docker.enable = docker;
      services.deckhand = defaults // values;
    };
  };
  defaults = builtins.mapAttrs (_: opt: opt.default or null) module.options.services.deckhand;
  failed = map (a: a.message) (builtins.filter (a: !a.assertion) (module.config.assertions or [ ]));
in
module.config // { failedAssertions = failed; }
