#!/usr/bin/env bash
# The package as another project sees it: pack, install the tarball into a temporary project,
# then a strict tsc consumer and a plain .mjs consumer streaming from a daemon on a loopback
# testnet. First with the client alone (no daemon dependencies may arrive), then with the
# daemon's optional peers (the hypercore pin must hold there). Prints both install sizes.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/test/package"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The daemon's optional peer dependencies, at the versions package.json asks for.
peers=$(node -e "const p=require('$repo/package.json');console.log(Object.entries(p.peerDependencies).filter(([n])=>n!=='@grpc/grpc-js').map(([n,v])=>n+'@'+v).join(' '))")
# The repo's own compiler and Node types check the consumer project (nothing extra to install there).
tsc() { node "$repo/node_modules/typescript/bin/tsc" --typeRoots "$repo/node_modules/@types" "$@"; }

(cd "$repo" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball=$(ls "$work"/qvacd-*.tgz)

mkdir "$work/app"
cd "$work/app"
echo '{ "name": "consumer", "private": true, "type": "module" }' > package.json
npm install --silent --no-audit --no-fund --prefer-offline "$tarball"
client_size=$(du -sh node_modules | cut -f1)
for heavy in node-llama-cpp @grpc/grpc-js corestore hyperdrive hyperbee hypercore pino-pretty cli-progress tsx; do
  if [[ -e "node_modules/$heavy" ]]; then echo "client-only install brought $heavy"; exit 1; fi
done
echo "package: client-only install $client_size (${SECONDS}s)"

# The daemon for the .mjs consumer runs from the repo: a loopback testnet, a tiny model.
cd "$repo"
node --import tsx bin/qvacd.ts testnet --json > "$work/testnet.json" &
pids+=($!)
until [[ -s "$work/testnet.json" ]]; do sleep 0.2; done
bootstrap=$(node -p "JSON.parse(require('fs').readFileSync('$work/testnet.json','utf8')).bootstrap")
mkdir "$work/models"
node --import tsx -e "(await import('./bench/tiny-model.ts')).writeTinyLlamaGguf('$work/models/tiny.gguf', { eos: 'suppress' })"
topic="package-check-$$"
node --import tsx bin/qvacd.ts start --json --topic "$topic" --bootstrap "$bootstrap" --storage "$work/storage" --models-dir "$work/models" > "$work/daemon.json" 2> "$work/daemon.log" &
pids+=($!)
until [[ -s "$work/daemon.json" ]]; do
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/daemon.log"; exit 1; }
  sleep 0.2
done

cd "$work/app"
cp "$here"/consumer.* "$here"/consumer-daemon.ts "$here"/tsconfig*.json .
node consumer.mjs "$topic" "$bootstrap" tiny.gguf
echo "package: daemon started, consumer.mjs streamed (${SECONDS}s)"
tsc -p tsconfig.json
echo "package: strict tsc consumer of the client is clean (${SECONDS}s)"

npm install --silent --no-audit --no-fund --prefer-offline "$tarball" $peers
full_size=$(du -sh node_modules | cut -f1)
hypercore=$(node -p "require('./node_modules/hypercore/package.json').version")
[[ "$hypercore" == "$(node -p "require('$repo/package.json').peerDependencies.hypercore")" ]] || { echo "hypercore $hypercore: the pin did not hold"; exit 1; }
echo "package: full install $full_size (hypercore $hypercore) (${SECONDS}s)"
tsc -p tsconfig.daemon.json
echo "package: strict tsc consumer embedding the daemon is clean (${SECONDS}s)"
help=$(./node_modules/.bin/qvacd --help)
[[ "$help" == *"start [options]"* ]] || { echo "installed qvacd --help printed no command list: $help"; exit 1; }
./node_modules/.bin/qvacd status --storage "$work/storage" --json > /dev/null
echo "package: installed qvacd --help and status answer (${SECONDS}s)"

# The installed CLI is a bundle (scripts/bundle-cli.mjs): its daemon, with the peers external, must serve too.
topic2="package-check-installed-$$"
./node_modules/.bin/qvacd start --json --topic "$topic2" --bootstrap "$bootstrap" --storage "$work/storage2" --models-dir "$work/models" > "$work/daemon2.json" 2> "$work/daemon2.log" &
pids+=($!)
until [[ -s "$work/daemon2.json" ]]; do
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/daemon2.log"; exit 1; }
  sleep 0.2
done
node consumer.mjs "$topic2" "$bootstrap" tiny.gguf
echo "package: a daemon started by the installed qvacd served consumer.mjs (${SECONDS}s)"
