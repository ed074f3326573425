# The workloads bench/compare.sh and bench/ab.sh run, one per row:
# "NAME|coord bench ARGUMENTS". Sourced by both (bash).
# shellcheck disable=SC2034
rows=(
	"put-1|put --clients 1 --conns 1"
	"put-256|put --clients 256 --conns 16"
	"get-64|get --clients 64 --conns 8"
	"txn-64|txn --clients 64 --conns 8"
	"lock-64|lock --clients 64 --conns 8 --keys 1000"
	"lock-contended-16|lock-contended --clients 16 --conns 4"
	"rwlock-64|rwlock --clients 64 --conns 8 --keys 8"
	"elect-64|elect --clients 64 --conns 8 --keys 1000"
	"queue-16+16|queue --clients 32 --conns 8"
	"barrier-16|barrier --clients 16 --conns 4"
	"watch-16x16|watch --clients 16 --conns 8 --watchers 16"
	"lease-10000|lease --sessions 10000 --ttl 10s --clients 64 --conns 8"
	"semaphore-64|semaphore --clients 64 --conns 8 --limit 16"
)
