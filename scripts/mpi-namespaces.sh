#!/usr/bin/env bash
# Two "hosts" on one machine: network namespaces gannet-h1 (10.77.0.1) and gannet-h2
# (10.77.0.2) joined by a veth pair; Open MPI starts one rank in each over TCP, reaching the
# second namespace through a small launch agent instead of ssh. Checks the bandwidth of the
# gradient exchange (bench allreduce), that 2 hosts × 4 images train exactly like 1 process
# × 8 (a network without BatchNorm), and that killing the rank on the other host ends the
# job everywhere within 30 s with a non-zero status. Needs root (ip netns). Only the
# project's own namespaces and addresses are used; they are removed at exit.
# Usage: scripts/mpi-namespaces.sh [.build/release/gannet]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
gannet="$(realpath "${1:-$root/.build/release/gannet}")"
work="$(mktemp -d)"
remove_namespaces() {
  ip netns del gannet-h1 2>/dev/null || true
  ip netns del gannet-h2 2>/dev/null || true
}
trap 'remove_namespaces; rm -rf "$work"' EXIT
remove_namespaces
ip netns add gannet-h1
ip netns add gannet-h2
ip link add gannet-v1 type veth peer name gannet-v2
ip link set gannet-v1 netns gannet-h1
ip link set gannet-v2 netns gannet-h2
ip netns exec gannet-h1 ip addr add 10.77.0.1/24 dev gannet-v1
ip netns exec gannet-h2 ip addr add 10.77.0.2/24 dev gannet-v2
for n in 1 2; do
  ip netns exec "gannet-h$n" ip link set "gannet-v$n" up
  ip netns exec "gannet-h$n" ip link set lo up
done
# The launch agent Open MPI calls as it would call ssh: "agent [options] HOST COMMAND...".
cat >"$work/agent.sh" <<'AGENT'
#!/usr/bin/env bash
while [[ "$1" == -* ]]; do shift; done
host="$1"; shift
case "$host" in 10.77.0.1) ns=gannet-h1 ;; 10.77.0.2) ns=gannet-h2 ;; *) echo "agent: $host is not ours" >&2; exit 1 ;; esac
exec ip netns exec "$ns" /bin/sh -c "$*"
AGENT
chmod +x "$work/agent.sh"
hosts() {  # mpirun on host 1 with one rank per host, TCP only, on the veth network
  ip netns exec gannet-h1 mpirun --allow-run-as-root --oversubscribe -np 2 --host 10.77.0.1:1,10.77.0.2:1 \
    --mca plm_rsh_agent "$work/agent.sh" --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 \
    --mca oob_tcp_if_include 10.77.0.0/24 "$@"
}
cd "$work"
hosts sh -c 'echo "rank $OMPI_COMM_WORLD_RANK in namespace $(ip netns identify $$)"'
hosts "$gannet" bench allreduce --max-bytes 16777216 --seconds 0.5 2>/dev/null
python3 "$root/scripts/smoke_checks.py" tiny-symbols "$work" >/dev/null
"$gannet" synth images --classes 3 --images-per-class 16 --size 30 2>/dev/null
"$gannet" list set images --recursive 2>/dev/null
"$gannet" pack set images --resize 28 2>/dev/null
tiny=(--network "$work/tiny-symbol.json" --train "$work/set.rec" --num-classes 3 --data-shape 3,28,28 --batch-size 8
      --lr 0.05 --rand-crop --rand-mirror --mean-rgb 128,128,128 --scale 0.0078125 --seed 4)
"$gannet" train "${tiny[@]}" --epochs 2 --model-prefix "$work/one" 2>/dev/null
hosts "$gannet" train "${tiny[@]}" --epochs 2 --model-prefix "$work/two" 2>/dev/null
python3 "$root/scripts/smoke_checks.py" same-parameters "$work/one-0002.params" "$work/two-0002.params" \
  | sed 's/cli-smoke: 2 processes/mpi-namespaces: 2 hosts/'
start=$(date +%s)
hosts "$gannet" train "${tiny[@]}" --epochs 100000 >/dev/null 2>&1 &
job=$!
sleep 5
# The rank on the second host: the gannet process whose namespace is gannet-h2.
victim=$(for pid in $(ip netns pids gannet-h2); do
  [ "$(cat /proc/$pid/comm 2>/dev/null)" = gannet ] && echo "$pid"; done | head -1)
[ -n "$victim" ] || { echo "mpi-namespaces: no rank found on host 2" >&2; exit 1; }
kill -9 "$victim"
set +e
wait "$job"; status=$?
set -e
elapsed=$(( $(date +%s) - start - 5 ))
leftover=$(for n in 1 2; do ip netns pids "gannet-h$n"; done | wc -l)
echo "mpi-namespaces: killing the rank on host 2 ended the job in ${elapsed} s, exit ${status}, ${leftover} processes left"
[ "$status" -ne 0 ] && [ "$elapsed" -le 30 ] && [ "$leftover" -eq 0 ]
