// Overloaded: a visitor built from lambdas, for std::visit over the event and
// action variants of the protocol machines.
#pragma once

namespace tegami {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace tegami
