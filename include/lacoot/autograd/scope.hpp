// lacoot/autograd/scope.hpp — which module is running: the owner that each recorded op carries.
//
// Holds: current_scope() and ScopeGuard, a per-thread "innermost owner" slot that
// nn::Module::operator() sets around forward, and that record() (node.hpp) copies into
// every Node it creates.
// Needs: only the standard library.
// Leaves out: names. The slot holds an opaque pointer (the Module's address); turning it into
// the dotted path "layer1.0.conv1" is graph/trace.hpp's job, which knows the model it traces
// (autograd comes before nn in the reading order, STYLE.md, so it cannot know modules).
//
// Why a pointer and not a string: record() runs for every op of every training step, so it may
// only afford a thread-local read and a pointer store (no allocation, no string). The stack of
// scopes is implicit: each guard saves the previous owner and puts it back when it dies, which
// also restores the right owner when forward throws. This is the role of PyTorch's module
// "scope" in torch.jit.trace (torch/jit/_trace.py keeps a scope per submodule call); here the
// graph is the ordinary autograd graph, so tracing costs nothing when nobody traces.
#pragma once

namespace lacoot::autograd {

namespace detail {
// The innermost owner on this thread (nullptr outside any module's forward). A function-local
// thread_local with a constant initialiser needs no guard, as GradMode's flag.
inline const void*& scope_slot() {
  thread_local const void* owner = nullptr;
  return owner;
}
}  // namespace detail

// The owner whose forward is running on this thread: what record() stores in Node::scope.
inline const void* current_scope() { return detail::scope_slot(); }

// While alive, ops recorded on this thread belong to `owner`; the previous owner comes back
// when it dies. nn::Module::operator() wraps forward in one, with owner = the module.
class ScopeGuard {
 public:
  explicit ScopeGuard(const void* owner) : previous_(detail::scope_slot()) { detail::scope_slot() = owner; }
  ~ScopeGuard() { detail::scope_slot() = previous_; }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  const void* previous_;
};

}  // namespace lacoot::autograd
