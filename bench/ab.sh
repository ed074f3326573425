#!/usr/bin/env bash
# Compares two Coord builds side by side: starts a three-member cluster of
# each (ports 28000.. and 28100..), runs every workload of compare.sh on both
# at the same time, ROUNDS times, and prints one line per workload and round:
#   ROUND WORKLOAD TAG_A OPS_A CPU_A TAG_B OPS_B CPU_B
# (CPU: cores the three members used). Both builds see the same moment of a
# noisy machine, so their ratio is steadier than alternating runs; swap A and
# B between invocations to cancel the advantage of one side. The workloads
# are compare.sh's (bench/rows.sh); WORKLOADS="put-1 lock-64" picks some.
#
#   bench/ab.sh before ./coord-old after ./coord-new 3
#   DURATION=10s bench/ab.sh ...
#
# AUTH_B=1 (AUTH_A=1) turns auth on in B's (A's) cluster before the rounds: user root (role
# root) and user bench, whose role allows readwrite on the prefix ab/ only
# (where every workload's keys go), and B's benches run as bench — the
# cost of a non-root user's permission checks. Use it with WORKLOADS whose
# keys follow --prefix (put-1, put-256, get-64, txn-64), e.g.
#   AUTH_B=1 WORKLOADS="put-256 get-64" bench/ab.sh off ./coord on ./coord 3
#   AUTH_A=1 WORKLOADS="put-256 get-64" bench/ab.sh on ./coord off ./coord 3
set -u
ta=$1 ba=$2 tb=$3 bb=$4 rounds=$5
work=$(mktemp -d /tmp/ab-XXXX); pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; rm -rf $work' EXIT
start() { # bin base -> sets EP, PIDS
  local bin=$1 base=$2 init=n0=127.0.0.1:$(($2+1)),n1=127.0.0.1:$(($2+11)),n2=127.0.0.1:$(($2+21)); EP=(); PL=()
  local door=0; $bin serve --help 2>/dev/null | grep -q -- --listen-etcd && door=1 # builds with the etcd door: one port each
  for i in 0 1 2; do c=$((base+10*i)); d=(); [[ $door == 1 ]] && d=(--listen-etcd 127.0.0.1:$((c+5)))
    $bin serve --name n$i --data-dir $work/$base-n$i --listen-client 127.0.0.1:$c --listen-peer 127.0.0.1:$((c+1)) --listen-http 127.0.0.1:$((c+2)) "${d[@]}" --initial-cluster $init --log-level warn >$work/$base-n$i.log 2>&1 & pids+=($!); PL+=($!); EP+=(127.0.0.1:$c); done
  EP=$(IFS=,; echo "${EP[*]}"); PL=$(IFS=,; echo "${PL[*]}")
  for _ in $(seq 120); do $bin bench put --endpoints $EP --total 1 --clients 1 --conns 1 --prefix ready/ --no-progress >/dev/null 2>&1 && break; sleep 0.5; done
}
start $ba 28000; EA=$EP PA=$PL
start $bb 28100; EB=$EP PB=$PL
# auth_on BIN ENDPOINTS: users root and bench, role bench (readwrite ab/), auth on.
auth_on() {
  for cmd in "user add root --new-user-password root" "role add root" "user grant-role root root" \
    "role add bench" "role grant-permission bench readwrite ab/ --prefix" \
    "user add bench --new-user-password bench" "user grant-role bench bench" "auth enable"; do
    $1 --endpoints $2 $cmd >/dev/null || { echo "ab.sh: auth setup failed at: $cmd" >&2; exit 1; }
  done
}
UA=() UB=()
if [[ -n "${AUTH_A:-}" ]]; then auth_on $ba $EA; UA=(--user bench:bench); fi
if [[ -n "${AUTH_B:-}" ]]; then auth_on $bb $EB; UB=(--user bench:bench); fi
source "$(dirname "${BASH_SOURCE[0]}")/rows.sh"
for r in $(seq $rounds); do for row in "${rows[@]}"; do n=${row%%|*} a=${row#*|}
  if [[ -n "${WORKLOADS:-}" ]] && ! grep -qw -- "$n" <<<"$WORKLOADS"; then continue; fi
  $ba bench $a "${UA[@]}" --endpoints $EA --server-pids $PA --duration ${DURATION:-8s} --prefix ab/$r/$n/ --no-progress -w json > $work/a.json 2>/dev/null & ap=$!
  $bb bench $a "${UB[@]}" --endpoints $EB --server-pids $PB --duration ${DURATION:-8s} --prefix ab/$r/$n/ --no-progress -w json > $work/b.json 2>$work/b.err; wait $ap; [[ -s $work/b.err ]] && sed "s/^/  B: /" $work/b.err >&2
  f() { grep -o "\"$1\":[0-9.e+-]*" $2 | head -1 | cut -d: -f2; }
  c() { grep -o '"cpu_cores":[0-9.e+-]*' $1 | cut -d: -f2 | awk '{s+=$1} END {printf "%.3f", s}'; }
  echo "$r $n $ta $(f ops_per_s $work/a.json) $(c $work/a.json) $tb $(f ops_per_s $work/b.json) $(c $work/b.json)"
done; done
