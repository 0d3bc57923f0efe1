# Just enough of nixpkgs' lib, pkgs and NixOS's utils to evaluate nix/module.nix without nixpkgs
# (Debian's nix-bin has none). Option types are names only: no type checking, merging or
# priorities; eval-module.nix feeds the module its own defaults overlaid with test values.
let
  lib = rec {
    mkOption = spec: spec // { _type = "option"; };
    mkEnableOption = what: mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable ${what}.";
    };
    mkPackageOption = pkgs: attr: extra: mkOption ({ type = types.package; default = pkgs.${attr}; } // extra);
    mkIf = cond: body: if cond then body else { };
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
    toInt = builtins.fromJSON;
    mapAttrsToList = f: set: map (name: f name set.${name}) (builtins.attrNames set);
    getExe = drv: "${drv}/bin/${drv.meta.mainProgram}";
    types = {
      bool = "bool";
      str = "str";
      path = "path";
      package = "package";
      nullOr = t: "nullOr ${t}";
      listOf = t: "listOf ${t}";
      attrsOf = t: "attrsOf ${t}";
      submodule = _: "submodule";
    };
  };

  # The same quoting as nixpkgs' nixos/lib/utils.nix: JSON strings, % and $ doubled.
  utils.escapeSystemdExecArgs = args: builtins.concatStringsSep " "
    (map (arg: builtins.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON "${arg}")) args);

  stubPackage = name: derivation
    {
      inherit name;
      system = "x86_64-linux";
      builder = "/bin/sh";
    } // { meta.mainProgram = name; };

  pkgs = {
    deckhand = stubPackage "deckhand";
    # Writes JSON, which deckhand's YAML loader reads as well.
    formats.yaml = _: {
      type = "yaml";
      generate = name: value: builtins.toFile name (builtins.toJSON value);
    };
  };
in
{ inherit lib pkgs utils; }
