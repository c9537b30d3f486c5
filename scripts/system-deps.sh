#!/usr/bin/env bash
# Debian packages rewunc needs beyond pip: a headless OpenGL (EGL, Mesa's software renderer)
# for MuJoCo's renderer (render_mode="rgb_array" without a screen). Installs only what is
# missing; uses sudo when not root.
set -euo pipefail
packages=(libegl1 libegl-mesa0 libgl1-mesa-dri)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    echo "system-deps: install ${missing[*]} (or your system's EGL + Mesa) by hand" >&2
    exit 1
  fi
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
fi
