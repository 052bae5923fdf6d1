# SPDX-License-Identifier: MIT
#
# plot.gp - draws shmring-bench results: one panel of latency percentiles per
# message size (bars per transport, log scale), then throughput against
# message size (messages/s and bytes/s, log-log). Built into shmring-bench
# (CMake embeds this file), which sets these variables before it:
#
#   out        the PNG to write
#   title      the figure's title (machine, rounds, date)
#   lat_file   latency data, "" if none: one block per size, blocks separated
#              by two blank lines, rows "transport p50 p90 p99 p999 p9999 max"
#   lat_sizes  the block sizes in bytes, as words: "64 4096"
#   thr_file   throughput data, "" if none: one block per transport, rows
#              "size msgs_per_s bytes_per_s"
#   thr_names  the block transports, as words: "floor ring pipe"
#
# By hand, from the .dat files shmring-bench leaves beside the PNG:
#   gnuplot -e "out='x.png'; title=''; lat_file='r-latency.dat'; lat_sizes='64 4096'; \
#               thr_file='r-throughput.dat'; thr_names='ring pipe'" bench/plot.gp

nlat = (lat_file eq "") ? 0 : words(lat_sizes)
nthr = (thr_file eq "") ? 0 : words(thr_names)
cols = (nlat > 2) ? nlat : 2
rows = ((nlat > 0) ? 1 : 0) + ((nthr > 0) ? 1 : 0)
if (rows == 0) { rows = 1 }

# Twelve distinct colours (then they cycle, with different point types)
colours = "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf #000000 #aec7e8"
do for [i = 1:12] { set linetype i lc rgb word(colours, i) lw 1.5 }
set linetype cycle 12

set terminal pngcairo size 640*cols, 480*rows font "sans,9" noenhanced
set output out
set multiplot layout rows, cols title title font "sans,11"

if (nlat > 0) {
	set style data histogram
	set style histogram clustered gap 1
	set style fill solid 0.85 border -1
	set logscale y
	set xtics rotate by -40 scale 0 nomirror
	set ytics nomirror
	set grid ytics
	set key below horizontal
	set ylabel "one-way latency, ns (log scale)"
	do for [i = 1:nlat] {
		set title sprintf("latency, %s-byte messages (median over rounds)", word(lat_sizes, i))
		plot lat_file index (i - 1) using 2:xtic(1) title "p50", \
		     '' index (i - 1) using 4 title "p99", \
		     '' index (i - 1) using 5 title "p99.9", \
		     '' index (i - 1) using 6 title "p99.99"
	}
	if (nlat < cols) {
		do for [j = nlat + 1:cols] { set multiplot next }
	}
	unset style data
	unset style histogram
	unset style fill
	set xtics norotate
}

if (nthr > 0) {
	set logscale xy 2
	set logscale y 10
	set grid xtics ytics
	set xlabel "message size, bytes (log scale)"
	set format x "%.0f"
	set key outside right top vertical
	set title "throughput: messages/s against message size"
	set ylabel "messages/s (log scale)"
		plot for [i = 1:nthr] thr_file index (i - 1) using 1:2 with linespoints lw 1.5 \
	     lt i pt (i % 13 + 1) ps 0.8 title word(thr_names, i)
	set title "throughput: bytes/s against message size"
	set ylabel "bytes/s (log scale)"
	plot for [i = 1:nthr] thr_file index (i - 1) using 1:3 with linespoints lw 1.5 \
	     lt i pt (i % 13 + 1) ps 0.8 title word(thr_names, i)
}

unset multiplot
