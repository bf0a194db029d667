// Package trace loads recorded grid-signal time series (regulation signals,
// grid frequency, site load) from CSV files into a [Series] that the plant
// simulator and the KPI code can sample with [Series.At].
//
// [Load] reads plain or gzip-compressed files (gzip is detected from the
// file's magic bytes, not its name) and picks the format from the header
// line. Blank lines are skipped; a UTF-8 byte-order mark and CRLF line ends
// are accepted. Every error is a [*ParseError] naming the file, the line and
// the problem.
//
// # Formats
//
// Generic project CSV. Header "t_s,<col>", then one row per sample:
//
//	t_s,f_hz
//	0,50.000
//	0.5,49.950
//
// t_s is seconds and must strictly increase; it is kept as written (not
// shifted to start at 0). <col> is one of:
//
//	f_hz     grid frequency in Hz                 -> Kind FrequencyHz
//	df_mhz   deviation from 50 Hz in mHz          -> Kind FrequencyHz, V = 50 + df/1000
//	load_kw  site load in kW                      -> Kind LoadKW
//	v_v      grid line voltage in V               -> Kind VoltageV
//	reg      regulation signal, -1..+1            -> Kind Regulation
//
// PJM regulation signal (as published by PJM and copied in
// shared/data/traces). Header ",<day>,<day>..." with day labels such as
// "8/1/2017"; rows "16:00:00,-1,-0.91885458". The first column is the time of
// day (H:MM:SS); when it goes backwards it has wrapped past midnight, so
// "0:00:00" after "23:59:58" is +2 s. One value column per day; [Load] takes
// the first day, [LoadPJM] any day. T starts at 0 on the first row. Kind
// Regulation; values must lie in -1..+1 (+1 = full regulation up, discharge).
//
// RTE frequency deviation. Header ",Frequency"; rows
// "2019-05-01 00:00:10,-39.0" with the deviation from 50 Hz in mHz. V is
// converted to Hz (50 + mHz/1000), Kind FrequencyHz. T is computed from the
// real timestamps, measured from the first row, so gaps in the record stay
// gaps (At interpolates across them). The public copy writes the first
// twelve days of May 2019 with day and month swapped ("2019-01-05" for
// 1 May ... "2019-12-05" for 12 May, then "2019-05-13"); where a date could
// be read either way, the reading that keeps time increasing with the
// shortest total span is used, so that file loads as 31 contiguous days.
package trace
