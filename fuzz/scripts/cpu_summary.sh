#!/usr/bin/env bash
# CPU hours per target from the campaign's cpu.log (see campaign.sh for the line format).
log="${1:-/work/fuzzwork/cpu.log}"
awk '{ t = $2; split($3, c, "="); split($4, w, "="); split($5, x, "=");
       cpu[t] += c[2]; wall[t] += w[2]; runs[t]++; if (x[2] != 0) bad[t]++ }
     END { for (t in cpu) printf "%-11s runs=%3d cpu_h=%6.2f wall_h=%6.2f nonzero_exits=%d\n",
                                 t, runs[t], cpu[t] / 3600, wall[t] / 3600, bad[t] }' "$log" | sort
awk '{ split($3, c, "="); total += c[2] } END { printf "total       cpu_h=%6.2f\n", total / 3600 }' "$log"
