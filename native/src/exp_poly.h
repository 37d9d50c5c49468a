// The constants of the vectorised e^x (g4_simd.h's exp8, g4_avx512.h's exp16), Cephes' expf:
//   x = n ln2 + r, |r| <= ln2/2  ->  e^x = 2^n * P(r), P of degree 6 with the coefficients kP
#pragma once

namespace g4::exp_poly {
constexpr float kLo = -87.3365447505f;  // below: 0 (expf is subnormal there)
constexpr float kHi = 88.0f;            // above: clamped
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;  // ln2 split: a part exact in float and a correction
constexpr float kP[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                         4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
}  // namespace g4::exp_poly
