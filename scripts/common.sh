# The preamble the opt-in scripts share (sourced, not run): from the repository root, `need`
# stops with an error unless ../shared has the folder it names, and `gos_opt_bin [BIN]` sets
# BIN to the given binary, or builds the release one and takes it.
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
S=../shared

need() {
  if [ ! -d "$S/$1" ]; then
    echo "error: ../shared is missing ($S/$1 not found)" >&2
    exit 1
  fi
}

gos_opt_bin() {
  BIN=${1:-target/release/gos-opt}
  if [ "$BIN" = target/release/gos-opt ]; then cargo build --release --quiet || exit 1; fi
}
