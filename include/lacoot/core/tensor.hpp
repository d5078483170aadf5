// lacoot/core/tensor.hpp — the Tensor handle.
//
// Holds: TensorImpl (storage, element offset, shape, dtype, autograd fields) and Tensor, a
// cheap handle to it: copying a Tensor shares the elements, as in PyTorch.
// Needs: the other core headers; autograd::Node is only declared here (autograd/ defines it,
// and defines Tensor::backward, which needs the engine).
// Leaves out: every computation (ops/ holds them as free functions) and strided views: a
// lacoot tensor is always contiguous and row-major, which keeps every kernel a flat loop.
// Views that stay contiguous (reshape, narrow on the first dim, detach) share storage.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "device.hpp"
#include "device_ops.hpp"
#include "dtype.hpp"
#include "error.hpp"
#include "shape.hpp"
#include "storage.hpp"

namespace lacoot {

namespace autograd {
struct Node;
}

class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements, from the start of storage
  Shape shape;
  DType dtype = DType::Float32;

  // Autograd: a leaf that requires grad accumulates into `grad`; a tensor made by an op
  // while grad mode is on points to the node that will send its gradient back (grad_fn).
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;
  // A leaf's post-accumulate-grad hooks (autograd::register_post_accumulate_grad_hook), by id.
  std::vector<std::pair<int64_t, std::function<void(const Tensor&)>>> post_accumulate_grad_hooks;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialised elements; prefer the factories (zeros, ones, ...) in core/factories.hpp.
  // `pin_memory`: in page-locked CPU memory (torch.empty(..., pin_memory=True)); see pin_memory().
  static Tensor empty(Shape shape, DType dtype = kFloat32, Device device = kCPU, bool pin_memory = false) {
    for (int64_t d : shape)
      LACOOT_CHECK(d >= 0, "empty: negative dimension in shape ", shape_str(shape));
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(
        static_cast<std::size_t>(lacoot::numel(shape)) * dtype_size(dtype), device, pin_memory);
    impl->shape = std::move(shape);
    impl->dtype = dtype;
    return Tensor(std::move(impl));
  }

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t d) const {
    return impl().shape[static_cast<std::size_t>(wrap_dim(d, dim(), "size"))];
  }
  int64_t numel() const { return lacoot::numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const { return true; }

  // Typed pointer to the first element; checks that T is the tensor's element type.
  template <class T>
  T* data() const {
    LACOOT_CHECK(dtype_of<T>() == dtype(), "data<", dtype_name(dtype_of<T>()),
                 ">: the tensor holds ", dtype_name(dtype()));
    return static_cast<T*>(impl().storage->data()) + impl().offset;
  }
  void* raw_data() const {
    return static_cast<char*>(impl().storage->data()) +
           impl().offset * static_cast<int64_t>(dtype_size(dtype()));
  }

  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }

  // Element access for tests and small programs: t.at<float>({1, 2}) = 3.f; CPU tensors only.
  template <class T>
  T& at(std::initializer_list<int64_t> index) const {
    LACOOT_CHECK(device().is_cpu(), "at: the tensor is on ", device().str(),
                 "; copy it to the host first (t.to(kCPU))");
    LACOOT_CHECK(static_cast<int64_t>(index.size()) == dim(), "at: got ", index.size(),
                 " indices for a tensor with ", dim(), " dimensions");
    int64_t flat = 0, d = 0;
    for (int64_t i : index) {
      int64_t n = shape()[static_cast<std::size_t>(d)];
      LACOOT_CHECK(i >= -n && i < n, "at: index ", i, " is out of range for dimension ", d,
                   " of size ", n);
      flat = flat * n + (i < 0 ? i + n : i);
      ++d;
    }
    return data<T>()[flat];
  }

  // The value of a one-element tensor, as double (any dtype) or as T. On a GPU it waits for the
  // work that makes the value.
  double item() const {
    LACOOT_CHECK(numel() == 1, "item: the tensor has ", numel(), " elements (shape ",
                 shape_str(shape()), "), expected exactly one");
    if (!device().is_cpu()) return to(kCPU).item();
    return dispatch_all(dtype(), "item", [&](auto tag) {
      using T = typename decltype(tag)::type;
      return static_cast<double>(data<T>()[0]);
    });
  }
  template <class T>
  T item() const {
    return static_cast<T>(item());
  }

  // A copy converted to another dtype (a copy even when the dtype is the same: as PyTorch's
  // .to(copy=True); use the tensor itself when no conversion is wanted), on the same device.
  Tensor to(DType target) const {
    Tensor out = empty(shape(), target, device());
    detail::cast(out.raw_data(), target, raw_data(), dtype(), numel(), device());
    return out;
  }

  // The tensor on `target`: the tensor itself when it is there already (as PyTorch's .to), else
  // a copy, not connected to the autograd graph (move a model with Module::to). A copy to the
  // CPU waits for the device's work. From pinned memory to a GPU with `non_blocking`, it returns
  // as soon as the copy is queued (the GPU's later work on the result waits for it, and the
  // pinned block is not reused before the copy has read it; do not change the source's values
  // meanwhile); otherwise it returns once the source has been read.
  Tensor to(Device target, bool non_blocking = false) const {
    if (target == device()) return *this;
    Tensor out = empty(shape(), dtype(), target);
    detail::copy_bytes(out.raw_data(), target, raw_data(), device(), nbytes());
#if LACOOT_WITH_CUDA
    if (is_pinned() && target.is_cuda()) impl().storage->record_read(target.index, !non_blocking);
#else
    (void)non_blocking;
#endif
    return out;
  }
  Tensor cpu() const { return to(kCPU); }

  // Page-locked CPU memory (torch.Tensor.pin_memory): a copy of this CPU tensor there, or the
  // tensor itself if it is pinned already. Copies from pinned memory to a GPU run at the bus's
  // full speed and can overlap the GPU's work (to(device, non_blocking)). Needs the CUDA backend
  // and a GPU (an error says which is missing).
  Tensor pin_memory() const {
    if (is_pinned()) return *this;
    LACOOT_CHECK(device().is_cpu(), "pin_memory: only CPU tensors can be pinned, this one is on ", device().str());
    Tensor out = empty(shape(), dtype(), kCPU, /*pin_memory=*/true);
    detail::copy_bytes(out.raw_data(), kCPU, raw_data(), kCPU, nbytes());
    return out;
  }
  bool is_pinned() const { return impl().storage->pinned(); }

  // A new tensor with its own copy of the elements, on the same device; not connected to the
  // autograd graph (lacoot::copy in ops/ is the differentiable copy).
  Tensor clone() const {
    Tensor out = empty(shape(), dtype(), device());
    detail::copy_bytes(out.raw_data(), device(), raw_data(), device(), nbytes());
    return out;
  }

  // Tensors are always contiguous, so this is the tensor itself (kept for PyTorch habits).
  Tensor contiguous() const { return *this; }

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  // Marks a leaf as a parameter whose gradient backward() accumulates into grad().
  Tensor& requires_grad_(bool on = true) {
    LACOOT_CHECK(!on || is_floating(dtype()), "requires_grad_: only floating-point tensors "
                 "can require gradients, this one is ", dtype_name(dtype()));
    LACOOT_CHECK(is_leaf(), "requires_grad_: can only be changed on a leaf tensor (this one "
                 "was made by an op; use detach() first)");
    impl().requires_grad = on;
    return *this;
  }
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  // The accumulated gradient (undefined until a backward pass reaches this leaf).
  Tensor grad() const { return Tensor(impl().grad); }
  void set_grad(const Tensor& g) { impl().grad = g.impl_; }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }

  // Shares the elements, cut from the graph: no grad_fn, requires_grad false.
  Tensor detach() const {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = impl_->storage;
    impl->offset = impl_->offset;
    impl->shape = impl_->shape;
    impl->dtype = impl_->dtype;
    return Tensor(std::move(impl));
  }

  // Back-propagates from this tensor (defined in autograd/engine.hpp). Without an argument the
  // tensor must hold one element and the output gradient is 1.
  void backward() const;
  void backward(const Tensor& grad_output) const;

  // The impl, for kernels and the autograd engine.
  TensorImpl& impl() const {
    LACOOT_CHECK(impl_ != nullptr, "use of an undefined Tensor (default-constructed or an "
                 "absent gradient)");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  // True when both handles point to the same tensor (not: equal values).
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A tensor with the same elements and a new shape of equal numel, sharing storage; the
// differentiable reshape is lacoot::reshape in ops/shape.hpp.
inline Tensor alias_with_shape(const Tensor& t, Shape shape) {
  Tensor out = t.detach();
  out.impl().shape = std::move(shape);
  return out;
}

}  // namespace lacoot
