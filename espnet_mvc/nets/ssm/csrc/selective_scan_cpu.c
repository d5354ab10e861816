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
 * The row functions process rows [row_begin, row_end) of the flattened (B, D); the
 * entry points mvc_scan_fwd_mt / mvc_scan_bwd_mt split the rows over an OpenMP team.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MAX_N 256
#define MAX_FUSED_DI 8192

int mvc_fused_max_inner(void) { return MAX_FUSED_DI; }

int mvc_scan_max_state(void) { return MAX_N; }

static void mvc_scan_fwd(const float *u, const float *dt, const float *A, const float *Bt,
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
static void mvc_scan_bwd(const float *u, const float *dt, const float *A, const float *Bt,
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

/* ---------------------------------------------------------------------------------------
 * Fused Mamba inference (no autograd), time-major layouts: one row of Di floats per frame,
 * so a frame's channels are contiguous and the channel loops vectorise. Used per sequence
 * (no batch axis) and per chunk of frames, with the state carried by the caller.
 *
 * Sequence order vs memory order: step t of the scan reads frame pos(t) = t, or L-1-t when
 * `reverse` is set -- a backward scan over the same buffers, with no reversed copies.
 * The range functions process channels [d0, d1); the entry points at the end of the file
 * split the channels over threads.
 * --------------------------------------------------------------------------------------- */

/* Causal depthwise conv + bias + SiLU.
 *   x       frame rows of Di inputs, row stride sx (x is the first half of in_proj's out)
 *   prefix  (K-1, Di) inputs preceding step 0 in sequence order, oldest first; NULL = 0
 *   wT      (K, Di) conv taps, tap K-1 multiplies the current frame
 *   out     (L, Di) in memory order                                                    */
static void conv_silu_range(const float *x, int64_t sx, const float *prefix, const float *wT,
                   const float *bias, float *out, int64_t L, int64_t Di, int64_t K,
                   int64_t reverse, int64_t d0, int64_t d1) {
  for (int64_t t = 0; t < L; ++t) {
    float *o = out + (reverse ? L - 1 - t : t) * Di;
    for (int64_t d = d0; d < d1; ++d) o[d] = bias ? bias[d] : 0.f;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t tt = t - (K - 1) + k; /* sequence step feeding tap k */
      const float *xr;
      if (tt < 0) {
        if (!prefix) continue;
        xr = prefix + (K - 1 + tt) * Di;
      } else {
        xr = x + (reverse ? L - 1 - tt : tt) * sx;
      }
      const float *w = wT + k * Di;
      for (int64_t d = d0; d < d1; ++d) o[d] += w[d] * xr[d];
    }
    for (int64_t d = d0; d < d1; ++d) o[d] = o[d] / (1.f + expf(-o[d]));
  }
}

/* Selective scan with everything around it fused:
 *   dt = softplus(x_dbl[:, :R] W_dt^T + dt_bias)   (dt_proj inside: threshold-20 softplus
 *                                                   as torch / mamba_ssm)
 *   h  = exp(dt A) h + dt u B_t                     h (N, Di) in/out: the carried state
 *   y  = (<C_t, h> + Dskip u) * silu(z)
 * u, y: (L, Di); x_dbl: rows of stride sxd holding [dt_low (R) | B (N) | C (N)] (x_proj's
 * output); Wdt_t: (R, Di) (dt_proj's weight transposed); A_t: (N, Di) (A transposed);
 * z: rows of stride sz. The state is stored state-major so that the innermost loops run
 * over contiguous channels: one vector exp per 16 channels, and the sum over states is a
 * vertical add (no horizontal reduction per channel). Computing dt here saves writing and
 * re-reading an (L, Di) tensor per chunk. */
static void scan_fused_range(const float *u, const float *x_dbl, int64_t sxd, int64_t R,
                             const float *Wdt_t, const float *dt_bias, const float *A_t,
                             const float *Dskip, const float *z, int64_t sz, float *y,
                             float *h, int64_t L, int64_t Di, int64_t N, int64_t reverse,
                             int64_t d0, int64_t d1) {
  float dt_buf[MAX_FUSED_DI], x_buf[MAX_FUSED_DI], acc[MAX_FUSED_DI];
  const int64_t W = d1 - d0;
  const float *bias = dt_bias + d0, *Dd = Dskip + d0;
  for (int64_t t = 0; t < L; ++t) {
    const int64_t p = reverse ? L - 1 - t : t;
    const float *ut = u + p * Di + d0, *zt = z + p * sz + d0;
    const float *xr = x_dbl + p * sxd, *Bt = xr + R, *Ct = Bt + N;
    float *yt = y + p * Di + d0;
    for (int64_t i = 0; i < W; ++i) dt_buf[i] = bias[i];
    for (int64_t r = 0; r < R; ++r) {
      const float a = xr[r];
      const float *w = Wdt_t + r * Di + d0;
      for (int64_t i = 0; i < W; ++i) dt_buf[i] += a * w[i];
    }
    for (int64_t i = 0; i < W; ++i) {
      const float v = dt_buf[i];
      dt_buf[i] = v > 20.f ? v : log1pf(expf(v));
      x_buf[i] = dt_buf[i] * ut[i];
      acc[i] = Dd[i] * ut[i];
    }
    for (int64_t n = 0; n < N; ++n) {
      const float b = Bt[n], c = Ct[n];
      float *hn = h + n * Di + d0;
      const float *An = A_t + n * Di + d0;
      for (int64_t i = 0; i < W; ++i) {
        hn[i] = expf(dt_buf[i] * An[i]) * hn[i] + x_buf[i] * b;
        acc[i] += c * hn[i];
      }
    }
    for (int64_t i = 0; i < W; ++i) yt[i] = acc[i] * (zt[i] / (1.f + expf(-zt[i])));
  }
}

/* The entry points hand blocks of CHANNEL_BLOCK channels to an OpenMP team, dynamically:
 * on a shared virtual machine one core is often slower than the other, and a static half /
 * half split would wait for it. Built with -fopenmp, this library binds to the libgomp that
 * PyTorch has already loaded (same soname), so the threads are PyTorch's own intra-op
 * threads, not a second pool competing for the cores. */
#define CHANNEL_BLOCK 128

int mvc_fused_has_openmp(void) {
#ifdef _OPENMP
  return 1;
#else
  return 0;
#endif
}

void mvc_conv_silu(const float *x, int64_t sx, const float *prefix, const float *wT,
                   const float *bias, float *out, int64_t L, int64_t Di, int64_t K,
                   int64_t reverse, int64_t n_threads) {
  const int64_t blocks = (Di + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t d0 = blk * CHANNEL_BLOCK;
    const int64_t d1 = d0 + CHANNEL_BLOCK < Di ? d0 + CHANNEL_BLOCK : Di;
    conv_silu_range(x, sx, prefix, wT, bias, out, L, Di, K, reverse, d0, d1);
  }
}

void mvc_scan_fused(const float *u, const float *x_dbl, int64_t sxd, int64_t R,
                    const float *Wdt_t, const float *dt_bias, const float *A_t,
                    const float *Dskip, const float *z, int64_t sz, float *y, float *h,
                    int64_t L, int64_t Di, int64_t N, int64_t reverse, int64_t n_threads) {
  const int64_t blocks = (Di + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t d0 = blk * CHANNEL_BLOCK;
    const int64_t d1 = d0 + CHANNEL_BLOCK < Di ? d0 + CHANNEL_BLOCK : Di;
    scan_fused_range(u, x_dbl, sxd, R, Wdt_t, dt_bias, A_t, Dskip, z, sz, y, h, L, Di, N,
                     reverse, d0, d1);
  }
}

/* Training scan entry points on the OpenMP team: rows of the flattened (B, D) grid split
 * evenly over the threads actually started (at most n_threads). In backward each thread
 * accumulates into its own gA/gB/gC part and scratch (index = thread number); the caller
 * allocates n_threads parts and sums them. */
static void row_range(int64_t rows, int64_t *lo, int64_t *hi) {
  int64_t tid = 0, nth = 1;
#ifdef _OPENMP
  tid = omp_get_thread_num();
  nth = omp_get_num_threads();
#endif
  *lo = rows * tid / nth;
  *hi = rows * (tid + 1) / nth;
}

void mvc_scan_fwd_mt(const float *u, const float *dt, const float *A, const float *Bt,
                     const float *Ct, const float *h0, float *y, float *h_last, float *ckpt,
                     int64_t Bsz, int64_t D, int64_t L, int64_t N, int64_t ckpt_every,
                     int64_t n_threads) {
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
  {
    int64_t lo, hi;
    row_range(Bsz * D, &lo, &hi);
    if (lo < hi) mvc_scan_fwd(u, dt, A, Bt, Ct, h0, y, h_last, ckpt, D, L, N, ckpt_every, lo, hi);
  }
}

void mvc_scan_bwd_mt(const float *u, const float *dt, const float *A, const float *Bt,
                     const float *Ct, const float *ckpt, const float *gy, const float *g_hlast,
                     float *gu, float *gdt, float *gA_parts, float *gB_parts, float *gC_parts,
                     float *gh0, float *scratch, int64_t Bsz, int64_t D, int64_t L, int64_t N,
                     int64_t ckpt_every, int64_t n_threads) {
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
  {
    int64_t lo, hi, tid = 0;
#ifdef _OPENMP
    tid = omp_get_thread_num();
#endif
    row_range(Bsz * D, &lo, &hi);
    if (lo < hi)
      mvc_scan_bwd(u, dt, A, Bt, Ct, ckpt, gy, g_hlast, gu, gdt, gA_parts + tid * D * N,
                   gB_parts + tid * Bsz * L * N, gC_parts + tid * Bsz * L * N, gh0,
                   scratch + tid * (ckpt_every + 1) * N, D, L, N, ckpt_every, lo, hi);
  }
}
