/* Corroboration (names and birth dates near a hit, matchers/engine.py) in C. Part of
 * the unity build of matchers/_native.c, which includes this file: the helpers
 * defined there (i64vec, u8vec, ...) are in scope. */

#define CORR_METHODS /* the entries of this file for _native.c's method table */
