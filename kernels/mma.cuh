// mma.cuh — tensor-core wrappers: mma.sync m16n8k16 (bf16 inputs, fp32 accumulation) and
// ldmatrix, as inline PTX under nvcc and as an exact emulation of the PTX ISA's fragment layouts
// otherwise (through the warp exchange of native/emu/cuda_emu.h).
//
// All of these are warp-wide: every one of the 32 lanes of the warp must call them together.
//
// Notation (PTX ISA, "Matrix Fragments for mma.m16n8k16" with .bf16 and "ldmatrix"):
//   lane = threadIdx linear % 32, g = groupID = lane >> 2 (0..7), t = threadID_in_group = lane % 4.
//   A 32-bit register holds two bf16: the element with the smaller column (or k) index in its low
//   16 bits (g4_pack_bf16x2(lo, hi)).
//
// D[16x8] = A[16x16] · B[16x8] + C[16x8]   (mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32)
//   A, row-major ("row"), 4 registers per lane:
//     a0 = A[g  ][2t, 2t+1]    a1 = A[g+8][2t, 2t+1]    a2 = A[g][2t+8, 2t+9]    a3 = A[g+8][2t+8, 2t+9]
//   B, k-major ("col": B's columns are contiguous), 2 registers per lane:
//     b0 = B[2t, 2t+1][g]      b1 = B[2t+8, 2t+9][g]
//   C and D, fp32, 4 per lane:
//     c0, c1 = C[g][2t], C[g][2t+1]      c2, c3 = C[g+8][2t], C[g+8][2t+1]
//
// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16 loads 1, 2 or 4 8x8 matrices of
// 16-bit elements from shared memory. Each matrix row is 8 contiguous elements (16 bytes, 16-byte
// aligned): lane i supplies the address of row i % 8 of matrix i / 8 (lanes 0-7 for x1, 0-15 for
// x2, all 32 for x4; the others' addresses are ignored). Afterwards register r[j] of every lane
// holds, of matrix j,
//   plain:   M[lane/4][2*(lane%4)], M[lane/4][2*(lane%4)+1]
//   .trans:  M[2*(lane%4)][lane/4], M[2*(lane%4)+1][lane/4]     (the same positions of Mᵀ)
// which is exactly an A (x4), B (x2, .trans for a row-major B) or C-shaped fragment above.
#pragma once

#include "g4_cuda.cuh"

// ---- packing -----------------------------------------------------------------------------------
G4_DEVICE uint32_t g4_pack_bf16x2(bf16 lo, bf16 hi) {
  return (uint32_t)__bfloat16_as_ushort(lo) | ((uint32_t)__bfloat16_as_ushort(hi) << 16);
}
G4_DEVICE uint32_t g4_pack_floats_bf16x2(float lo, float hi) {
  return g4_pack_bf16x2(__float2bfloat16(lo), __float2bfloat16(hi));
}
G4_DEVICE bf16 g4_bf16x2_lo(uint32_t r) { return __ushort_as_bfloat16((unsigned short)(r & 0xffffu)); }
G4_DEVICE bf16 g4_bf16x2_hi(uint32_t r) { return __ushort_as_bfloat16((unsigned short)(r >> 16)); }

#if defined(__CUDACC__)
// ---- PTX ---------------------------------------------------------------------------------------
G4_DEVICE void g4_mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
        "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

G4_DEVICE unsigned g4_smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

G4_DEVICE void g4_ldmatrix_x4(uint32_t r[4], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(g4_smem_addr(smem_row)));
}
G4_DEVICE void g4_ldmatrix_x2(uint32_t r[2], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1]) : "r"(g4_smem_addr(smem_row)));
}
G4_DEVICE void g4_ldmatrix_x1(uint32_t r[1], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n"
               : "=r"(r[0]) : "r"(g4_smem_addr(smem_row)));
}
G4_DEVICE void g4_ldmatrix_x4_trans(uint32_t r[4], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(g4_smem_addr(smem_row)));
}
G4_DEVICE void g4_ldmatrix_x2_trans(uint32_t r[2], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1]) : "r"(g4_smem_addr(smem_row)));
}
G4_DEVICE void g4_ldmatrix_x1_trans(uint32_t r[1], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n"
               : "=r"(r[0]) : "r"(g4_smem_addr(smem_row)));
}

#else
// ---- emulation: every lane deposits its part, then computes its own outputs ---------------------
G4_DEVICE void g4emu_require_full_warp(const g4emu::WarpView& x, const char* what) {
  if (x.present != 0xffffffffu) g4emu::fail("%s needs all 32 lanes of the warp, present 0x%08x", what, x.present);
}

// Reads only registers and the warp exchange (the runtime's memory): left out of the sanitizer's sight.
G4EMU_UNCHECKED static void g4_mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  const uint32_t mine[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
  const g4emu::WarpView x = g4emu::warp_exchange(mine, 6);
  g4emu_require_full_warp(x, "mma.sync");
  const int g = x.lane >> 2, t = x.lane & 3;
  for (int i = 0; i < 4; ++i) {
    const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
    double s = 0;  // bf16 products are exact in double; one rounding at the end
    for (int k = 0; k < 16; ++k) {
      // A[r][k] lives in lane (r%8)*4 + (k%8)/2, register (r >= 8) + 2*(k >= 8); B[k][n] in lane
      // n*4 + (k%8)/2, register 4 + (k >= 8); the element with the odd k is the register's high half
      const uint32_t ra = x.word[(row % 8) * 4 + (k % 8) / 2][(row >= 8) + 2 * (k >= 8)];
      const uint32_t rb = x.word[col * 4 + (k % 8) / 2][4 + (k >= 8)];
      const uint32_t ua = k & 1 ? ra & 0xffff0000u : ra << 16, ub = k & 1 ? rb & 0xffff0000u : rb << 16;
      float va, vb;  // widened by hand: the sanitizer-free body inlines nothing of the kernels'
      std::memcpy(&va, &ua, 4);
      std::memcpy(&vb, &ub, 4);
      s += (double)va * (double)vb;
    }
    d[i] = (float)(s + (double)c[i]);
  }
}

// The shared body of all ldmatrix variants: `count` matrices, optionally transposed.
G4_DEVICE void g4emu_ldmatrix(uint32_t* r, int count, bool trans, const void* smem_row) {
  uint32_t mine[2];
  std::memcpy(mine, &smem_row, sizeof smem_row);
  const g4emu::WarpView x = g4emu::warp_exchange(mine, 2);
  g4emu_require_full_warp(x, "ldmatrix");
  auto row = [&](int i) {  // the row address lane i supplied
    const unsigned short* p;
    std::memcpy(&p, x.word[i], sizeof p);
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) g4emu::fail("ldmatrix row address %p is not 16-byte aligned", (const void*)p);
    return p;
  };
  const int g = x.lane >> 2, t = x.lane & 3;
  for (int j = 0; j < count; ++j) {
    unsigned short lo, hi;
    if (!trans) {
      lo = row(8 * j + g)[2 * t];
      hi = row(8 * j + g)[2 * t + 1];
    } else {
      lo = row(8 * j + 2 * t)[g];
      hi = row(8 * j + 2 * t + 1)[g];
    }
    r[j] = (uint32_t)lo | ((uint32_t)hi << 16);
  }
}

G4_DEVICE void g4_ldmatrix_x4(uint32_t r[4], const void* p) { g4emu_ldmatrix(r, 4, false, p); }
G4_DEVICE void g4_ldmatrix_x2(uint32_t r[2], const void* p) { g4emu_ldmatrix(r, 2, false, p); }
G4_DEVICE void g4_ldmatrix_x1(uint32_t r[1], const void* p) { g4emu_ldmatrix(r, 1, false, p); }
G4_DEVICE void g4_ldmatrix_x4_trans(uint32_t r[4], const void* p) { g4emu_ldmatrix(r, 4, true, p); }
G4_DEVICE void g4_ldmatrix_x2_trans(uint32_t r[2], const void* p) { g4emu_ldmatrix(r, 2, true, p); }
G4_DEVICE void g4_ldmatrix_x1_trans(uint32_t r[1], const void* p) { g4emu_ldmatrix(r, 1, true, p); }
#endif
