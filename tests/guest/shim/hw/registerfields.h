/*
 * The registerfields.h interface for programs built outside QEMU (user
 * programs and Linux modules): just what a register map written with
 * REG32() and FIELD() needs.  Put this directory before QEMU's include/
 * on the include path.
 *
 *   REG32(reg, addr)                 A_reg (byte offset), R_reg (word index)
 *   FIELD(reg, field, shift, length) R_reg_field_SHIFT, _LENGTH, _MASK
 *   FIELD_EX32(value, reg, field)    the field's value in @value
 *   FIELD_DP32(value, reg, field, v) @value with the field set to @v
 */
#ifndef GUEST_SHIM_REGISTERFIELDS_H
#define GUEST_SHIM_REGISTERFIELDS_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
#endif

#define REG32(reg, addr) \
    enum { A_##reg = (addr), R_##reg = (addr) / 4 };

#define FIELD(reg, field, shift, length) \
    enum { \
        R_##reg##_##field##_SHIFT = (shift), \
        R_##reg##_##field##_LENGTH = (length), \
        R_##reg##_##field##_MASK = (int)((~0u >> (32 - (length))) << (shift)), \
    };

#define FIELD_EX32(value, reg, field) \
    (((uint32_t)(value) & (uint32_t)R_##reg##_##field##_MASK) >> \
     R_##reg##_##field##_SHIFT)

#define FIELD_DP32(value, reg, field, v) \
    (((uint32_t)(value) & ~(uint32_t)R_##reg##_##field##_MASK) | \
     (((uint32_t)(v) << R_##reg##_##field##_SHIFT) & \
      (uint32_t)R_##reg##_##field##_MASK))

#endif
