#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of the collection laid out as
# ansible_collections/hpcops/aws_hpc under git, as ansible-test requires.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work="$root/.lab/sanity"
dest="$work/ansible_collections/hpcops/aws_hpc"

rm -rf "$work"
mkdir -p "$dest"
# The files git tracks plus the new ones it does not ignore: what would be committed.
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$root" && python3 -c 'import os, sys; sys.stdout.write("".join(p + "\0" for p in sys.stdin.read().split("\0") if p and os.path.lexists(p)))') |
  tar -C "$root" --null -T - -cf - | tar -C "$dest" -xf -
# The collections this one depends on (doc fragments, module_utils), from the installed
# `ansible` package, where ansible-test looks for them: beside this collection.
site=$(python -c 'import ansible, os; print(os.path.dirname(os.path.dirname(ansible.__file__)))')
for ns in amazon community ansible; do
  ln -s "$site/ansible_collections/$ns" "$work/ansible_collections/$ns"
done
git -C "$dest" init -q
git -C "$dest" add -A
git -C "$dest" -c user.name=sanity -c user.email=sanity@localhost commit -q -m sanity

# ansible-test bootstraps pip into its sanity virtualenvs with a downloaded get-pip script; this
# machine reaches only package registries, so give it a local stand-in that uses ensurepip and
# then installs the pip version it wants from the package index.
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for ver in 24.2 24.3 25.0 25.1; do
  f="$cache/get_pip_${ver//./_}.py"
  [ -f "$f" ] || cat > "$f" <<PY
import subprocess, sys
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if not a.startswith("-")] or ["pip==$ver"]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args])
PY
done

cd "$dest"
pyver=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
exec ansible-test sanity --color no --python "$pyver" --requirements "$@"
