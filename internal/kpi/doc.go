// Package kpi scores a recorded plant run against the grid-service rules in
// docs/grid-services.md: the PJM regulation performance score, the Chinese
// AGC indices K1, K2, K3 and Kp, the dynamic metrics of a primary
// frequency-response step (lag, rise time, settling time, steady error) and
// plain set-point tracking accuracy.
//
// Every function is pure: it takes sampled series (times in seconds,
// strictly increasing, and values of the same length) and returns a result
// struct, or an error for malformed input. Between samples a measured
// series is taken as piecewise linear; crossing times are interpolated.
// Sign convention: P > 0 is discharge/export, P < 0 is charge; the
// functions only rely on differences, so any consistent convention works.
package kpi
