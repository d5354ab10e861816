/* Selective scan on the CPU: one sequential pass over time per (batch, channel) row, the
 * d_state loop vectorised (with -O3 -ffast-math GCC maps expf onto glibc's libmvec).
 *
 * Layouts (all float32, contiguous):
 *   u, dt      (B, D, L)       dt already biased and softplus'ed
 *   A          (D, N)
 *   Bt, Ct     (B, L, N)       time-major so that one step reads N contiguous floats
 *   h0         (B, D, N)
 *   y          (B, D, L)       sum_n C h (no D skip, no gate: those stay in PyTorch)
 *   h_last     (B, D, N)
 *   ckpt       (B, D, n_ckpt, N)  state before every chunk of CKPT steps, for backward
 * Rows [row_begin, row_end) of the flattened (B, D) are processed, so that Python can run
 * several calls in parallel threads (ctypes releases the GIL).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_N 256

int mvc_scan_max_state(void) { return MAX_N; }

void mvc_scan_fwd(const float *u, const float *dt, const float *A, const float *Bt,
                  const float *Ct, const float *h0, float *y, float *h_last, float *ckpt,
                  int64_t D, int64_t L, int64_t N, int64_t ckpt_every, int64_t row_begin,
                  int64_t row_end) {
  const int64_t n_ckpt = (L + ckpt_every - 1) / ckpt_every;
  float h[MAX_N], a[MAX_N];
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t b = row / D, d = row % D;
    const float *u_r = u + row * L, *dt_r = dt + row * L, *A_d = A + d * N;
    const float *B_b = Bt + b * L * N, *C_b = Ct + b * L * N;
    float *y_r = y + row * L;
    memcpy(h, h0 + row * N, N * sizeof(float));
    for (int64_t t = 0; t < L; ++t) {
      if (ckpt && t % ckpt_every == 0)
        memcpy(ckpt + (row * n_ckpt + t / ckpt_every) * N, h, N * sizeof(float));
      const float s = dt_r[t], x = s * u_r[t];
      const float *B_t = B_b + t * N, *C_t = C_b + t * N;
      float acc = 0.f;
      for (int64_t n = 0; n < N; ++n) a[n] = expf(s * A_d[n]);
      for (int64_t n = 0; n < N; ++n) {
        h[n] = a[n] * h[n] + x * B_t[n];
        acc += C_t[n] * h[n];
      }
      y_r[t] = acc;
    }
    memcpy(h_last + row * N, h, N * sizeof(float));
  }
}

/* Backward. gy (B, D, L) and g_hlast (B, D, N) come in; out: gu, gdt (B, D, L), gA (D, N)
 * (rows of one channel d never run in two threads at once only if the caller splits by
 * batch; so gA is accumulated per call into gA_part (D, N) owned by the calling thread),
 * gB_part / gC_part (B, L, N) owned by the calling thread, gh0 (B, D, N).
 * States inside a chunk are recomputed from the checkpoint into `hs` (ckpt_every+1, N). */
void mvc_scan_bwd(const float *u, const float *dt, const float *A, const float *Bt,
                  const float *Ct, const float *ckpt, const float *gy, const float *g_hlast,
                  float *gu, float *gdt, float *gA_part, float *gB_part, float *gC_part,
                  float *gh0, float *hs, int64_t D, int64_t L, int64_t N, int64_t ckpt_every,
                  int64_t row_begin, int64_t row_end) {
  const int64_t n_ckpt = (L + ckpt_every - 1) / ckpt_every;
  float gh[MAX_N], a[MAX_N];
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t b = row / D, d = row % D;
    const float *u_r = u + row * L, *dt_r = dt + row * L, *A_d = A + d * N;
    const float *B_b = Bt + b * L * N, *C_b = Ct + b * L * N;
    float *gB_b = gB_part + b * L * N, *gC_b = gC_part + b * L * N;
    float *gA_d = gA_part + d * N;
    const float *gy_r = gy + row * L;
    memcpy(gh, g_hlast + row * N, N * sizeof(float));
    for (int64_t c = n_ckpt - 1; c >= 0; --c) {
      const int64_t t0 = c * ckpt_every;
      const int64_t t1 = (t0 + ckpt_every < L) ? t0 + ckpt_every : L;
      /* hs[k] = state after step t0 + k - 1 (hs[0] = state before the chunk) */
      memcpy(hs, ckpt + (row * n_ckpt + c) * N, N * sizeof(float));
      for (int64_t t = t0; t < t1; ++t) {
        const float s = dt_r[t], x = s * u_r[t];
        const float *B_t = B_b + t * N;
        float *prev = hs + (t - t0) * N, *cur = prev + N;
        for (int64_t n = 0; n < N; ++n) cur[n] = expf(s * A_d[n]) * prev[n] + x * B_t[n];
      }
      for (int64_t t = t1 - 1; t >= t0; --t) {
        const float s = dt_r[t], ut = u_r[t], g = gy_r[t];
        const float *B_t = B_b + t * N, *C_t = C_b + t * N;
        float *gB_t = gB_b + t * N, *gC_t = gC_b + t * N;
        const float *prev = hs + (t - t0) * N, *cur = prev + N;
        float g_dt = 0.f, g_u = 0.f;
        for (int64_t n = 0; n < N; ++n) a[n] = expf(s * A_d[n]);
        for (int64_t n = 0; n < N; ++n) {
          gC_t[n] += g * cur[n];
          const float gh_n = gh[n] + g * C_t[n]; /* dL/dh_t */
          const float ga = gh_n * prev[n] * a[n]; /* dL/d(s*A) through the decay */
          g_dt += ga * A_d[n] + gh_n * B_t[n] * ut;
          gA_d[n] += ga * s;
          g_u += gh_n * B_t[n];
          gB_t[n] += gh_n * s * ut;
          gh[n] = gh_n * a[n];
        }
        gdt[row * L + t] = g_dt;
        gu[row * L + t] = g_u * s;
      }
    }
    memcpy(gh0 + row * N, gh, N * sizeof(float));
  }
}
