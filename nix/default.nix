# For people without flakes: nix-build nix/ (or callPackage this file from a configuration).
{ pkgs ? import <nixpkgs> { } }:
pkgs.callPackage ./package.nix { }
