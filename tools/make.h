/* SPDX-License-Identifier: Apache-2.0 */
/* make.h - the "ckpt make" generator. */
#ifndef CKPT_MAKE_H
#define CKPT_MAKE_H

int ckpt_cmd_make(int argc, char **argv);

#endif
