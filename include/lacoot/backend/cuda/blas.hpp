// lacoot/backend/cuda/blas.hpp — matrix products on the GPU through cuBLAS.
//
// Holds: LACOOT_CUBLAS_CHECK, blas_handle(device) (one cuBLAS handle per device, bound to
// lacoot's stream), set_allow_tf32 (off by default, as torch.backends.cuda.matmul.allow_tf32),
// gemm and gemm_batched with the row-major conventions of backend/cpu/gemm.hpp.
// Needs: runtime.hpp, cuBLAS (plain C++: cublas_v2.h and libcublas).
//
// Row-major to column-major: cuBLAS reads matrices by columns. A row-major X [r, c] with
// leading dimension ld is, read by columns, Xᵀ [c, r] with the same ld. So the row-major
// C = op(A) · op(B) is the column-major Cᵀ = op(B)ᵀ · op(A)ᵀ: one cublas<T>gemm with the operands
// swapped (B first), m and n swapped, and each transpose flag kept as it is (cuBLAS, 2.7.1).
#pragma once

#include <cublas_v2.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <type_traits>
#include <vector>

#include "runtime.hpp"

namespace lacoot::cuda {

namespace detail {
[[noreturn]] inline void fail_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  throw Error(lacoot::detail::concat(call, " failed: ", cublasGetStatusName(status), " (",
                                     cublasGetStatusString(status), ") at ", file, ":", line));
}
}  // namespace detail

}  // namespace lacoot::cuda

// LACOOT_CUBLAS_CHECK(cublasSgemm(...)) throws lacoot::Error naming the call and its status.
#define LACOOT_CUBLAS_CHECK(call)                                                        \
  do {                                                                                   \
    const cublasStatus_t lacoot_status_ = (call);                                        \
    if (lacoot_status_ != CUBLAS_STATUS_SUCCESS)                                         \
      ::lacoot::cuda::detail::fail_cublas(lacoot_status_, #call, __FILE__, __LINE__);    \
  } while (0)

namespace lacoot::cuda {

namespace detail {
inline bool& allow_tf32_flag() {
  static bool allow = false;
  return allow;
}
}  // namespace detail

// float32 products on tensor cores in TF32 (10-bit mantissa inputs: faster, less exact) when
// on; off by default, so that results match the CPU's float32 to float32 accuracy.
inline void set_allow_tf32(bool on) { detail::allow_tf32_flag() = on; }
inline bool allow_tf32() { return detail::allow_tf32_flag(); }

// cuda:index's cuBLAS handle, made on first use, on lacoot's stream for that device.
inline cublasHandle_t blas_handle(int index) {
  cudaStream_t s = stream(index);  // checks the device
  static std::array<cublasHandle_t, kMaxDevices> handles{};
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  cublasHandle_t& h = handles[static_cast<std::size_t>(index)];
  if (h == nullptr) {
    DeviceGuard guard(index);
    LACOOT_CUBLAS_CHECK(cublasCreate(&h));
    LACOOT_CUBLAS_CHECK(cublasSetStream(h, s));
  }
  LACOOT_CUBLAS_CHECK(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return h;
}

namespace detail {
inline int checked_int(int64_t v, const char* what) {
  LACOOT_CHECK(v >= 0 && v <= INT32_MAX, "cuBLAS gemm: ", what, " = ", v, " does not fit cuBLAS's int");
  return static_cast<int>(v);
}
// A leading dimension: cuBLAS wants at least 1 even where k = 0 leaves the matrix unread.
inline int checked_ld(int64_t v, const char* what) { return checked_int(v < 1 ? 1 : v, what); }
inline cublasOperation_t op(bool transpose) { return transpose ? CUBLAS_OP_T : CUBLAS_OP_N; }

// cublas<S|D>gemm and their strided-batched forms, chosen by the element type.
inline cublasStatus_t xgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const float* alpha, const float* A, int lda, const float* B, int ldb,
                            const float* beta, float* C, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline cublasStatus_t xgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const double* alpha, const double* A, int lda, const double* B, int ldb,
                            const double* beta, double* C, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline cublasStatus_t xgemm_strided(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                    int k, const float* alpha, const float* A, int lda, long long sa,
                                    const float* B, int ldb, long long sb, const float* beta, float* C, int ldc,
                                    long long sc, int count) {
  return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, count);
}
inline cublasStatus_t xgemm_strided(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                    int k, const double* alpha, const double* A, int lda, long long sa,
                                    const double* B, int ldb, long long sb, const double* beta, double* C,
                                    int ldc, long long sc, int count) {
  return cublasDgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, count);
}

}  // namespace detail

// C [m, n] = alpha · op(A) · op(B) + beta · C, all row-major on cuda:index (op(A) is [m, k],
// op(B) [k, n]; lda, ldb, ldc are the row-major leading dimensions), as backend::cpu::gemm.
template <class T>
void gemm(int index, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cuBLAS gemm: float or double");
  if (m == 0 || n == 0) return;
  using namespace detail;
  cublasHandle_t h = blas_handle(index);
  DeviceGuard guard(index);
  LACOOT_CUBLAS_CHECK(xgemm(h, op(tb), op(ta), checked_int(n, "n"), checked_int(m, "m"), checked_int(k, "k"),
                            &alpha, B, checked_ld(ldb, "ldb"), A, checked_ld(lda, "lda"), &beta, C,
                            checked_ld(ldc, "ldc")));
}

// C_i [m, n] = op(A at a_off[i]) · op(B at b_off[i]) for each i, C_i at i·m·n, as
// backend::cpu::gemm_batched: one strided-batched call when the offsets step evenly (a
// broadcast operand steps by 0), else one gemm per matrix.
template <class T>
void gemm_batched(int index, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* A,
                  const std::vector<int64_t>& a_off, int64_t lda, const T* B, const std::vector<int64_t>& b_off,
                  int64_t ldb, T* C) {
  const std::size_t count = a_off.size();
  if (count == 0 || m == 0 || n == 0) return;
  auto even = [](const std::vector<int64_t>& off) {
    for (std::size_t i = 1; i < off.size(); ++i)
      if (off[i] - off[i - 1] != off[1] - off[0]) return false;
    return true;
  };
  if (count == 1 || !even(a_off) || !even(b_off)) {
    for (std::size_t i = 0; i < count; ++i)
      gemm<T>(index, ta, tb, m, n, k, T(1), A + a_off[i], lda, B + b_off[i], ldb, T(0),
              C + static_cast<int64_t>(i) * m * n, n);
    return;
  }
  using namespace detail;
  const T one = T(1), zero = T(0);
  cublasHandle_t h = blas_handle(index);
  DeviceGuard guard(index);
  LACOOT_CUBLAS_CHECK(xgemm_strided(h, op(tb), op(ta), checked_int(n, "n"), checked_int(m, "m"), checked_int(k, "k"),
                                    &one, B + b_off[0], checked_ld(ldb, "ldb"), b_off[1] - b_off[0], A + a_off[0],
                                    checked_ld(lda, "lda"), a_off[1] - a_off[0], &zero, C, checked_ld(n, "ldc"),
                                    m * n, checked_int(static_cast<int64_t>(count), "batch count")));
}

}  // namespace lacoot::cuda
