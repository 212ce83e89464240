#!/usr/bin/env bash
# Long fuzzing campaign: runs the five targets round-robin, JOBS at a time, until DEADLINE,
# and appends one line per run to $WORK/cpu.log:
#   <utc time> <target> cpu_s=<user+sys seconds> wall_s=<seconds> exit=<status>
# (exit 0: time budget used up, no finding; anything else: see $WORK/artifacts/<target>/
# and $WORK/logs/). Start it detached and niced so it only uses idle CPU:
#   setsid nohup nice -n 19 fuzz/scripts/campaign.sh >/dev/null 2>&1 &
# It runs the binaries in $WORK/bin (copies made by `cargo fuzz build`, so rebuilding the
# worktree never disturbs it; copy new binaries there to pick up a fix at the next run).
# Working corpora are $WORK/<target>, seeded from fuzz/corpus/<target> (never written).
# Totals per target: fuzz/scripts/cpu_summary.sh [$WORK/cpu.log].
set -u
REPO="${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"  # reads fuzz/*.dict, fuzz/corpus
WORK="${WORK:-/work/fuzzwork}"
DEADLINE="${DEADLINE:-21:55}"           # UTC, today
JOBS="${JOBS:-2}"
RUN_SECS="${RUN_SECS:-600}"             # budget of one run (libFuzzer -max_total_time)
RSS_MB="${RSS_MB:-1024}"
TARGETS=(xml_stream stanza sasl jid config)
deadline_ts=$(date -u -d "$DEADLINE" +%s)

dict_for() {
    case "$1" in
        xml_stream | stanza) echo "$REPO/fuzz/xml.dict" ;;
        *) echo "$REPO/fuzz/$1.dict" ;;
    esac
}

mkdir -p "$WORK/logs"
for t in "${TARGETS[@]}"; do
    mkdir -p "$WORK/$t" "$WORK/artifacts/$t"
    cp -n "$REPO/fuzz/corpus/$t"/* "$WORK/$t/" 2>/dev/null || true
done

worker() {
    local i=$1 n=0
    while :; do
        local now left t
        now=$(date -u +%s)
        left=$((deadline_ts - now - 5))
        [ "$left" -le 10 ] && break
        [ "$left" -gt "$RUN_SECS" ] && left=$RUN_SECS
        t=${TARGETS[$(((i + n * JOBS) % ${#TARGETS[@]}))]}
        n=$((n + 1))
        local log="$WORK/logs/$t-$(date -u +%H%M%S)-w$i.log" tf
        tf=$(mktemp)
        # -timeout: one input running longer than 60 s is a finding (a hang).
        /usr/bin/time -f '%U %S %e' -o "$tf" \
            timeout --kill-after=30 $((left + 60)) \
            "$WORK/bin/$t" -rss_limit_mb="$RSS_MB" -max_total_time="$left" -timeout=60 \
            -dict="$(dict_for "$t")" -artifact_prefix="$WORK/artifacts/$t/" \
            -print_final_stats=1 "$WORK/$t" >"$log" 2>&1
        local rc=$?
        read -r u s e < <(tail -1 "$tf")
        rm -f "$tf"
        echo "$(date -u +%FT%TZ) $t cpu_s=$(echo "$u + $s" | bc) wall_s=$e exit=$rc" >>"$WORK/cpu.log"
    done
}

echo "$(date -u +%FT%TZ) campaign start: jobs=$JOBS deadline=$DEADLINE UTC" >>"$WORK/campaign.log"
for ((w = 0; w < JOBS; w++)); do
    worker "$w" &
done
wait
echo "$(date -u +%FT%TZ) campaign end" >>"$WORK/campaign.log"
