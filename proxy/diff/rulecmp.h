/* rulecmp: the per-route comparison rules (rules.h, route_compare) applied
 * around the diff engine (compare.h). Pure: no I/O, no globals.
 *
 * Where each rule acts:
 *   rulecmp_prepare (before the diff, one side at a time):
 *       maps, then ignore, then normalize, in that order;
 *   compare_* with compare_opts.rules (during the diff):
 *       tolerance, arrays (keyed and unordered), status equivalence,
 *       headers / ignore_headers, status_only, and the "known" verdict.
 * compare_bodies with rules calls rulecmp_prepare itself, so a caller
 * normally only sets compare_opts.rules and .known (see compare.h).
 *
 * Paths. maps, ignore and normalize are matched against the document as
 * received (after the maps): array elements are indexes ("/items/0/sku").
 * tolerance, arrays and known are matched against the compared path, in
 * which an element of a keyed array is named "KEY=VALUE" ("/items/sku=MB01");
 * "*" matches either. */
#ifndef SP_RULECMP_H
#define SP_RULECMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "conf/rules.h"

/* Rewrites one side's parsed body for comparison; rc NULL is a no-op.
 *
 * Ownership: takes the caller's reference in *doc and stores in *doc a
 * reference the caller owns (the same document when nothing changed). A node
 * is rewritten in place only when this reference is its only owner, i.e. it
 * and all its ancestors have a refcount of 1; anything reachable from
 * another reference is shallow-copied on the way down (copy-on-write), never
 * modified. So a caller that keeps the original does
 *     json_t *d = json_incref(orig); rulecmp_prepare(rc, side, &d);
 *     ... json_decref(d);
 * and `orig` is left exactly as it was, sharing every unchanged subtree
 * with d; a caller that hands over its only reference pays no copy.
 *
 *   maps      (side == m->side), in rule order: the value at `from` moves
 *             to `to`; missing parents of `to` are created as objects, an
 *             existing value at `to` is replaced. A missing `from` is a
 *             no-op; so is a `to` that cannot be reached (through a scalar,
 *             or an array index out of range): the value stays at `from`.
 *             "*" segments expand over every member/element when `from` and
 *             `to` share the same segments up to their last "*"
 *             ("/items/ * /quantity" -> "/items/ * /qty", without the
 *             spaces): the move is done within each element. "-" as the
 *             last segment of `to` appends to an array. `from` "" wraps the
 *             whole node, `to` "" unwraps (replaces the node).
 *   ignore    (both sides): every node matching a pattern is deleted, with
 *             its subtree. An ignored root becomes JSON null.
 *   normalize (both sides): applies to every string at a matching path and
 *             below it (a matching object or array normalizes its subtree).
 *             In order: trim (ASCII whitespace " \t\n\r\f\v" at both ends);
 *             number_strings (a string that is exactly a JSON number
 *             becomes that number: "10.00" -> 10.0, "1e2" -> 100.0, "-3" ->
 *             -3; "+3", "007", ".5", " 7 " without trim, "abc" and numbers
 *             out of double range stay strings); datetime (see
 *             normalize_datetime; a string that does not parse stays as
 *             is); case_insensitive (ASCII letters lower-cased, other bytes
 *             unchanged: UTF-8 stays valid, "É" is not folded); see
 *             normalize.h. Object member names are never normalized.
 *
 * Returns 0, -ENOMEM, or -EINVAL when a map is invalid (see
 * rule_map_check: it is skipped, the rest is applied). On error *doc
 * still holds a valid document the caller owns, possibly partly prepared.
 * Recursion depth is the document depth (jansson's parser stops at 2048). */
int rulecmp_prepare(const route_compare *rc, sp_side side, json_t **doc);

/* rc->status_only: bodies and headers are not compared (compare_headers and
 * compare_bodies return 0 by themselves; a caller may skip body parsing). */
bool rulecmp_status_only(const route_compare *rc);

/* The name of the first known rule (rule order) that accepts a difference,
 * or NULL. where: WHERE_STATUS, WHERE_HEADER or WHERE_BODY; path: "" for
 * status, the header name for headers, the RFC 6901 pointer for bodies;
 * kind: "changed", "added", "removed" or "type".
 * A rule applies when its `where` is WHERE_ANY or equal, its kind is NULL
 * or equal, and its path fits: path.text NULL (no path) fits everything;
 * header rules compare path.text with the header name case-insensitively
 * ("" fits every header); body rules match path as a pattern; WHERE_ANY
 * rules with a non-empty path.text apply to bodies (pattern) and headers
 * (name), not to the status; status rules ignore the path. */
const char *rulecmp_known(const route_compare *rc, diff_where where,
                          const char *path, const char *kind);

/* Adds "known": "<rule name>" to every difference in `diffs` (objects as
 * compare.h builds them) that a known rule accepts, and removes a stale
 * "known" from the others. Returns how many are not known. compare_* do this
 * themselves when compare_opts.rules is set; this is for arrays built
 * without rules. */
size_t rulecmp_classify(const route_compare *rc, json_t *diffs);

#endif
