#!/usr/bin/env bash
# Compares Coord and etcd on every bench workload, side by side, on this
# machine: builds etcd v3.6.5 from the Go module proxy and Coord from this
# tree into a temporary directory, starts a three-member etcd and a
# three-member Coord on loopback (fsync on, default settings for both), runs
# each workload against both with `coord bench`, prints a Markdown table and
# removes everything on exit. Only Go (and bash, awk, sed, grep) is needed.
#
#   bench/compare.sh                      # every workload, 10 s each
#   DURATION=30s RUNS=3 bench/compare.sh  # medians of three runs
#   WORKLOADS="put-256 lock" bench/compare.sh
#
# Environment:
#   DURATION    length of each run (default 10s)
#   RUNS        runs per workload and target; the table shows medians (default 1)
#   WORKLOADS   which rows to run (default: all; names as in the table)
#   SHARDS      Coord's --shards (default: the server's default)
#   BASE_PORT   first port used (default 24000; uses BASE_PORT..BASE_PORT+130)
#   ETCD_BIN    an etcd binary to use instead of building one
#   COORD_BIN   a coord binary to use instead of building this tree (to
#               compare two builds of Coord in one sitting)
#   NO_ETCD=1   run Coord only (the etcd columns show "—")
#   KEEP=1      keep the temporary directory (logs, JSON results)
#   PPROF=1     start Coord members with --enable-pprof (HTTP ports printed)
#   ETCD_DOOR=1 also run each workload through Coord's etcd door (etcd's own
#               client, `--target etcd`, against Coord's etcd ports) and print a
#               second table: the door against Coord's native door and etcd
#   ETCD_ROUND_ROBIN=1  give each etcd client every endpoint (clientv3 then
#               balances each call over a connection to every member) instead of
#               one endpoint per client, as Coord's client has (bench --etcd-round-robin)
#   PIN=1       run the servers on every core but the last and the load generator
#               on the last one (taskset), as if it ran on a machine of its own:
#               then a client that costs more CPU per call (clientv3) takes no CPU
#               from the servers (Linux with taskset and at least 2 usable CPUs)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
duration=${DURATION:-10s}
runs=${RUNS:-1}
base=${BASE_PORT:-24000}
work=$(mktemp -d "${TMPDIR:-/tmp}/coord-compare-XXXXXX")
pids=()

cleanup() {
	local code=$?
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [[ "${KEEP:-}" == 1 ]]; then
		echo "kept $work" >&2
	else
		rm -rf "$work"
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "compare: $*" >&2; }

# PIN=1: server and load generator command prefixes (empty otherwise): the
# servers on every CPU this script may use but the last, the load generator
# on the last (from the allowed list, e.g. "0-3" or "2,4-5" under a cpuset).
srv_pin=() gen_pin=()
if [[ "${PIN:-}" == 1 ]]; then
	cpus=()
	if command -v taskset >/dev/null; then
		allowed=$(taskset -cp $$)
		IFS=, read -ra parts <<<"${allowed##*: }"
		for part in "${parts[@]}"; do
			if [[ $part == *-* ]]; then
				for ((c = ${part%-*}; c <= ${part#*-}; c++)); do cpus+=("$c"); done
			else
				cpus+=("$part")
			fi
		done
	fi
	if ((${#cpus[@]} < 2)); then
		log "PIN=1 needs taskset and at least 2 usable CPUs (found: ${cpus[*]:-none})"
		exit 2
	fi
	srv_cores=$(IFS=,; echo "${cpus[*]:0:${#cpus[@]}-1}")
	srv_pin=(taskset -c "$srv_cores") gen_pin=(taskset -c "${cpus[-1]}")
fi

log "building coord and etcd into $work"
if [[ -n "${COORD_BIN:-}" ]]; then
	cp "$COORD_BIN" "$work/coord"
else
	go build -o "$work/coord" ./cmd/coord
fi
if [[ "${NO_ETCD:-}" == 1 ]]; then
	:
elif [[ -n "${ETCD_BIN:-}" ]]; then
	cp "$ETCD_BIN" "$work/etcd"
else
	bench/etcd/build.sh "$work/etcd" v3.6.5 >/dev/null
fi
coord=$work/coord

# Three etcd members: client BASE+10i, peer BASE+10i+1.
etcd_eps=() etcd_pids=() initial=()
for i in 0 1 2; do initial+=("e$i=http://127.0.0.1:$((base + 10 * i + 1))"); done
initial=$(IFS=,; echo "${initial[*]}")
for i in 0 1 2; do
	[[ "${NO_ETCD:-}" == 1 ]] && break
	c=$((base + 10 * i)) p=$((base + 10 * i + 1))
	${srv_pin[@]+"${srv_pin[@]}"} "$work/etcd" --name "e$i" --data-dir "$work/e$i" \
		--listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
		--listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
		--initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token coord-compare \
		--log-level warn >"$work/e$i.log" 2>&1 &
	pids+=($!) etcd_pids+=($!) etcd_eps+=("127.0.0.1:$c")
done

# Three Coord members: client BASE+100+10i, peer +1, HTTP +2.
coord_eps=() coord_pids=() door_eps=() door_rows=() initial=()
for i in 0 1 2; do initial+=("n$i=127.0.0.1:$((base + 100 + 10 * i + 1))"); done
initial=$(IFS=,; echo "${initial[*]}")
extra=()
[[ -n "${SHARDS:-}" ]] && extra+=(--shards "$SHARDS")
[[ "${PPROF:-}" == 1 ]] && extra+=(--enable-pprof)
# A build with the etcd door gets it on port +5 of each member (three members
# on the default 127.0.0.1:2379 would collide); an older build has no flag.
has_etcd_door=0
# (No pipe into grep -q: under pipefail the help's SIGPIPE made this false.)
[[ "$("$coord" serve --help 2>/dev/null)" == *--listen-etcd* ]] && has_etcd_door=1
for i in 0 1 2; do
	c=$((base + 100 + 10 * i))
	door=()
	[[ $has_etcd_door == 1 ]] && door=(--listen-etcd "127.0.0.1:$((c + 5))") door_eps+=("127.0.0.1:$((c + 5))")
	${srv_pin[@]+"${srv_pin[@]}"} "$coord" serve --name "n$i" --data-dir "$work/n$i" --listen-client "127.0.0.1:$c" \
		--listen-peer "127.0.0.1:$((c + 1))" --listen-http "127.0.0.1:$((c + 2))" ${door[@]+"${door[@]}"} \
		--initial-cluster "$initial" --log-level warn ${extra[@]+"${extra[@]}"} >"$work/n$i.log" 2>&1 &
	pids+=($!) coord_pids+=($!) coord_eps+=("127.0.0.1:$c")
	[[ "${PPROF:-}" == 1 ]] && log "n$i pprof: http://127.0.0.1:$((c + 2))/debug/pprof/"
done
etcd_eps=$(IFS=,; echo "${etcd_eps[*]}") coord_eps=$(IFS=,; echo "${coord_eps[*]}")
door_eps=$(IFS=,; echo "${door_eps[*]+${door_eps[*]}}")
if [[ "${ETCD_DOOR:-}" == 1 && -z $door_eps ]]; then log "ETCD_DOOR=1: this coord build has no etcd door"; exit 2; fi
etcd_pids=$(IFS=,; echo "${etcd_pids[*]}") coord_pids=$(IFS=,; echo "${coord_pids[*]}")

# Wait until each cluster takes a write.
targets=(coord etcd)
[[ "${NO_ETCD:-}" == 1 ]] && targets=(coord)
for t in "${targets[@]}"; do
	eps=$coord_eps
	[[ $t == etcd ]] && eps=$etcd_eps
	ok=
	for _ in $(seq 120); do
		if "$coord" bench put --target "$t" --endpoints "$eps" --total 1 --clients 1 --conns 1 \
			--prefix compare-ready/ --no-progress >/dev/null 2>&1; then
			ok=1
			break
		fi
		sleep 0.5
	done
	[[ -n $ok ]] || { log "$t cluster did not become ready; logs in $work (KEEP=1 keeps them)"; tail -5 "$work"/*.log >&2; exit 1; }
done
log "clusters ready: coord $coord_eps, etcd $etcd_eps"

# name|coord bench arguments
source "$root/bench/rows.sh"

# field NAME FILE: the first "NAME":number in a one-line JSON result.
field() { grep -o "\"$1\":[-0-9.e+]*" "$2" | head -1 | cut -d: -f2; }
# cpu FILE: CPU cores used by all server processes together.
cpu() { grep -o '"cpu_cores":[0-9.e+-]*' "$1" | cut -d: -f2 | awk '{s+=$1} END {if (NR) printf "%.2f", s}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print ""; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# bench TARGET NAME ARGS...: runs one workload RUNS times; prints
# "ops/s p99 cpu errors" (medians) or "n/a REASON".
bench() {
	local t=$1 name=$2
	shift 2
	local eps=$coord_eps pidlist=$coord_pids ops=() p99=() cpus=() errs=0 target=$t
	[[ $t == etcd ]] && eps=$etcd_eps pidlist=$etcd_pids
	[[ $t == door ]] && eps=$door_eps target=etcd # etcd's client against Coord's etcd door
	local rr=()
	[[ $target == etcd && "${ETCD_ROUND_ROBIN:-}" == 1 ]] && rr=(--etcd-round-robin)
	for r in $(seq "$runs"); do
		local out="$work/$name-$t-$r.json"
		if ! ${gen_pin[@]+"${gen_pin[@]}"} "$coord" bench "$@" ${rr[@]+"${rr[@]}"} --target "$target" --endpoints "$eps" --server-pids "$pidlist" \
			--duration "$duration" --prefix "compare/$name/$r/" --no-progress -w json >"$out" 2>"$out.err"; then
			echo "n/a $(head -1 "$out.err" | sed 's/^Error: //')"
			return
		fi
		ops+=("$(field ops_per_s "$out")") p99+=("$(field p99 "$out")") cpus+=("$(cpu "$out")")
		errs=$((errs + $(field errors "$out")))
	done
	echo "$(printf '%s\n' "${ops[@]}" | median) $(printf '%s\n' "${p99[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median) $errs"
}

fmt_ops() { awk -v v="$1" 'BEGIN {if (v >= 10000) printf "%.1fK", v/1000; else printf "%.0f", v}'; }

machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
echo
echo "Coord vs etcd 3.6.5, $(date -u +%Y-%m-%d), $machine; three members each on loopback, fsync on;"
where="load generator on the same machine"
[[ "${PIN:-}" == 1 ]] && where="PIN=1: servers on cores ${srv_pin[2]}, load generator on core ${gen_pin[2]}"
echo "$duration per run, median of $runs run(s); $where. CPU = cores used by the three servers together."
echo
echo "| workload | Coord ops/s | etcd ops/s | ratio | Coord p99 | etcd p99 | Coord CPU | etcd CPU | errors (Coord/etcd) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for row in "${rows[@]}"; do
	name=${row%%|*} args=${row#*|}
	if [[ -n "${WORKLOADS:-}" ]] && ! grep -qw -- "$name" <<<"$WORKLOADS"; then continue; fi
	log "running $name"
	# shellcheck disable=SC2086
	c=$(bench coord "$name" $args)
	# shellcheck disable=SC2086
	e="n/a skipped (NO_ETCD=1)"
	# shellcheck disable=SC2086
	[[ "${NO_ETCD:-}" == 1 ]] || e=$(bench etcd "$name" $args)
	read -r cops cp99 ccpu cerr <<<"$c"
	read -r eops ep99 ecpu eerr <<<"$e"
	if [[ "${ETCD_DOOR:-}" == 1 ]]; then
		# shellcheck disable=SC2086
		d=$(bench door "$name" $args)
		door_rows+=("$name|$d|$cops|$eops")
	fi
	if [[ $cops == n/a && $eops == n/a ]]; then
		echo "| $name | n/a: ${c#n/a } | n/a: ${e#n/a } | — | — | — | — | — | —/— |"
		continue
	fi
	if [[ $cops == n/a ]]; then
		echo "| $name | n/a: ${c#n/a } | $(fmt_ops "$eops") | — | — | ${ep99} ms | — | $ecpu | —/$eerr |"
		continue
	fi
	if [[ $eops == n/a ]]; then
		echo "| $name | $(fmt_ops "$cops") | n/a: ${e#n/a } | — | ${cp99} ms | — | $ccpu | — | $cerr/— |"
		continue
	fi
	ratio=$(awk -v a="$cops" -v b="$eops" 'BEGIN {if (b > 0) printf "%.2f×", a/b; else print "—"}')
	echo "| $name | $(fmt_ops "$cops") | $(fmt_ops "$eops") | $ratio | ${cp99} ms | ${ep99} ms | $ccpu | $ecpu | $cerr/$eerr |"
done
if [[ "${ETCD_DOOR:-}" == 1 ]]; then
	echo
	echo "Through Coord's etcd door (etcd's own client against Coord's etcd ports, same Coord cluster):"
	echo
	echo "| workload | door ops/s | door / Coord native | door / etcd | door p99 | Coord CPU (door) | errors |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
	for r in "${door_rows[@]+"${door_rows[@]}"}"; do
		IFS='|' read -r name d cops eops <<<"$r"
		read -r dops dp99 dcpu derr <<<"$d"
		if [[ $dops == n/a ]]; then
			echo "| $name | n/a: ${d#n/a } | — | — | — | — | — |"
			continue
		fi
		rn=$(awk -v a="$dops" -v b="$cops" 'BEGIN {if (b+0 > 0) printf "%.2f×", a/b; else print "—"}')
		re=$(awk -v a="$dops" -v b="$eops" 'BEGIN {if (b+0 > 0) printf "%.2f×", a/b; else print "—"}')
		echo "| $name | $(fmt_ops "$dops") | $rn | $re | ${dp99} ms | $dcpu | $derr |"
	done
fi
