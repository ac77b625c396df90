#!/usr/bin/env bash
# Time a newcomer's first `make demo` on a fresh clone, in its three parts: the venv install, the demo
# build (migrate + manage.py demo) and serving (runserver until the participant link answers 200).
# Usage: scripts/measure-first-demo.sh [CLONE_DIR] [PORT]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d)/visexp}
port=${2:-8765}
git clone -q "$src" "$dir"
cd "$dir"
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.0f}')"; }

t0=$(now)
make -s .venv/.runtime >/dev/null 2>&1
t1=$(now)
DEBUG=1 .venv/bin/python manage.py migrate --noinput -v0
DEBUG=1 .venv/bin/python manage.py demo --no-serve --host "http://127.0.0.1:$port" >demo.log
t2=$(now)
DEBUG=1 .venv/bin/python manage.py runserver "127.0.0.1:$port" --noreload >serve.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$port/s/demo-class-discrimination/"; do sleep 0.2; done
t3=$(now)

if grep -q "Training" demo.log; then echo "the demo trained its networks" >&2; exit 1; fi
echo "venv install: $(secs "$t0" "$t1") s"
echo "demo build:   $(secs "$t1" "$t2") s"
echo "serving:      $(secs "$t2" "$t3") s"
echo "total:        $(secs "$t0" "$t3") s   (clone in $dir)"
