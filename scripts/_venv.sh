# Shared by scripts/serve and scripts/test: make .venv (Python 3.11+) and install the project.
# Usage: ensure_venv ""  or  ensure_venv "[dev]"
ensure_venv() {
  local extras="$1" py="${PYTHON:-}"
  if [ -z "$py" ]; then
    for cand in python3.13 python3.12 python3.11 python3; do
      if command -v "$cand" >/dev/null 2>&1 &&
         "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        py="$cand"; break
      fi
    done
  fi
  [ -n "$py" ] || { echo "Python 3.11 or newer is needed" >&2; exit 1; }
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  local stamp=".venv/.installed${extras//[^a-z]/}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -U pip >/dev/null
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
    touch "$stamp"
  fi
  # GraphiQL's files, served by the gateway itself (not committed; fetched once, then checked)
  .venv/bin/python scripts/fetch_graphiql.py ||
    echo "GraphiQL's files could not be fetched: its page will load them from the CDN" >&2
}
