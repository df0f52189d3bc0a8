/*
 * Numeric cores of the safety stages, one C call per stage per tick, of the joint PD
 * controller (robot_rl/control/pd.py, one call per physics step for K robots) and of the
 * quad12-walk reward terms (robot_rl/envs/quad12_walk.py, one call per policy step for K
 * envs).
 *
 * The stages in robot_rl/safety/stages.py own the configuration, the modes and the events;
 * these functions only do the per-joint arithmetic, in place, on C-contiguous float64
 * buffers of equal length n (6 to 12 joints: the cost of numpy's per-call dispatch, not the
 * arithmetic, dominated the chain's tick). Every function checks its buffers (format,
 * length, writability) and raises TypeError / ValueError naming the argument.
 *
 * The semantics are those documented on each stage; tests/safety/test_kernels.py checks
 * them against numpy formulations of the same rules.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define MAXB 24

typedef struct {
    Py_buffer b[MAXB];
    int count;
    Py_ssize_t n;  /* element count shared by all buffers (-1: not set yet) */
} Bufs;

static void release(Bufs *bs) {
    for (int i = 0; i < bs->count; i++) PyBuffer_Release(&bs->b[i]);
    bs->count = 0;
}

/* Whether a buffer holds float64 items (native or little-endian "d" format). */
static int is_f64(const Py_buffer *b) {
    const char *f = b->format ? b->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    return b->itemsize == 8 && strcmp(f, "d") == 0;
}

/* Acquire args[i] as a float64 vector of the common length; NULL (error set) on failure. */
static double *get(Bufs *bs, PyObject *o, int writable, const char *name) {
    Py_buffer *b = &bs->b[bs->count];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(o, b, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous%s float64 array", name,
                     writable ? " writable" : "");
        return NULL;
    }
    bs->count++;
    if (!is_f64(b)) {
        PyErr_Format(PyExc_TypeError, "%s must be float64 (got format '%s')", name,
                     b->format ? b->format : "?");
        return NULL;
    }
    Py_ssize_t n = b->len / 8;
    if (bs->n < 0) {
        bs->n = n;
    } else if (n != bs->n) {
        PyErr_Format(PyExc_ValueError, "%s has %zd values, expected %zd", name, n, bs->n);
        return NULL;
    }
    return (double *)b->buf;
}

#define NARGS(k, fname)                                                                  \
    if (nargs != (k)) {                                                                  \
        PyErr_Format(PyExc_TypeError, fname "() takes %d arguments (%zd given)", (k),    \
                     nargs);                                                             \
        return NULL;                                                                     \
    }
#define GET(var, i, w, name)                                                             \
    double *var = get(&bs, args[i], (w), (name));                                        \
    if (!var) goto fail;

static inline double dmax(double a, double b) { return a > b ? a : b; }
static inline double dmin(double a, double b) { return a < b ? a : b; }

/* all_finite(a, b, ...) -> bool: every value of every array is finite. */
static PyObject *all_finite(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Bufs bs = {.count = 0, .n = -1};
    if (nargs < 1 || nargs > MAXB) {
        PyErr_SetString(PyExc_TypeError, "all_finite() takes 1 to 24 arrays");
        return NULL;
    }
    int ok = 1;
    for (Py_ssize_t k = 0; k < nargs; k++) {
        bs.n = -1;  /* arrays may differ in length here */
        double *x = get(&bs, args[k], 0, "array");
        if (!x) goto fail;
        for (Py_ssize_t i = 0; i < bs.n && ok; i++) ok = isfinite(x[i]);
    }
    release(&bs);
    return PyBool_FromLong(ok);
fail:
    release(&bs);
    return NULL;
}

/* clamp(x, lo, hi) -> bool: x = min(max(x, lo), hi) in place; True if some x was outside. */
static PyObject *clamp(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Bufs bs = {.count = 0, .n = -1};
    NARGS(3, "clamp");
    GET(x, 0, 1, "x");
    GET(lo, 1, 0, "lo");
    GET(hi, 2, 0, "hi");
    int changed = 0;
    for (Py_ssize_t i = 0; i < bs.n; i++) {
        double v = x[i];
        if (v < lo[i] || v > hi[i]) {
            changed = 1;
            v = v < lo[i] ? lo[i] : v;
            x[i] = v > hi[i] ? hi[i] : v;
        }
    }
    release(&bs);
    return PyBool_FromLong(changed);
fail:
    release(&bs);
    return NULL;
}

/*
 * tracking(q, q_target, kp, tau, tau_trip) -> (err, over)
 *   err: max |q - q_target| over all joints, or -1.0 when no joint is stiff (kp all 0: in
 *   damping nothing is tracked); over: some |tau| > tau_trip (tau may be None).
 */
static PyObject *tracking(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Bufs bs = {.count = 0, .n = -1};
    NARGS(5, "tracking");
    GET(q, 0, 0, "q");
    GET(qt, 1, 0, "q_target");
    GET(kp, 2, 0, "kp");
    GET(trip, 4, 0, "tau_trip");
    double *tau = NULL;
    if (args[3] != Py_None) {
        tau = get(&bs, args[3], 0, "tau");
        if (!tau) goto fail;
    }
    int stiff = 0, over = 0;
    double err = 0.0;
    for (Py_ssize_t i = 0; i < bs.n; i++) {
        stiff |= kp[i] != 0.0;
        double d = fabs(q[i] - qt[i]);
        if (d > err || isnan(d)) err = isnan(err) ? err : d;
        if (tau && (fabs(tau[i]) > trip[i] || isnan(tau[i]))) over = 1;
    }
    release(&bs);
    if (!stiff) err = -1.0;
    return Py_BuildValue("(dO)", err, over ? Py_True : Py_False);
fail:
    release(&bs);
    return NULL;
}

/* ramp(q_t, dq_t, tau_ff, q0, alpha): q_t = q0 + alpha (q_t - q0); dq_t, tau_ff *= alpha. */
static PyObject *ramp(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Bufs bs = {.count = 0, .n = -1};
    NARGS(5, "ramp");
    GET(qt, 0, 1, "q_target");
    GET(dqt, 1, 1, "dq_target");
    GET(ff, 2, 1, "tau_ff");
    GET(q0, 3, 0, "q_start");
    double a = PyFloat_AsDouble(args[4]);
    if (a == -1.0 && PyErr_Occurred()) goto fail;
    for (Py_ssize_t i = 0; i < bs.n; i++) {
        qt[i] = q0[i] + a * (qt[i] - q0[i]);
        dqt[i] *= a;
        ff[i] *= a;
    }
    release(&bs);
    Py_RETURN_NONE;
fail:
    release(&bs);
    return NULL;
}

/*
 * rate_limit(q_t, dq_t, last_q_t, last_kp, q, step, q_lo, q_hi, dq_max, r_lo, r_hi) -> bool
 *
 * Rate box [ref - step, ref + step] written to r_lo / r_hi, ref = the last output's target
 * if it was stiff (some last_kp != 0; last_q_t / last_kp may be None: no last output), else
 * the measured position q. The position target is clamped
 * into the rate box intersected with the position bounds [q_lo, q_hi] (position bounds have
 * priority: where the rate box lies wholly outside them, the target goes to the nearest
 * position bound); the velocity target into [-dq_max, dq_max]. True if anything changed.
 */
static PyObject *rate_limit(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Bufs bs = {.count = 0, .n = -1};
    NARGS(11, "rate_limit");
    GET(qt, 0, 1, "q_target");
    GET(dqt, 1, 1, "dq_target");
    GET(q, 4, 0, "q");
    GET(step, 5, 0, "step");
    GET(qlo, 6, 0, "q_lo");
    GET(qhi, 7, 0, "q_hi");
    GET(dqm, 8, 0, "dq_max");
    GET(rlo, 9, 1, "r_lo");
    GET(rhi, 10, 1, "r_hi");
    const double *ref = q;
    if (args[2] != Py_None && args[3] != Py_None) {
        double *lq = get(&bs, args[2], 0, "last_q_target");
        if (!lq) goto fail;
        double *lkp = get(&bs, args[3], 0, "last_kp");
        if (!lkp) goto fail;
        for (Py_ssize_t i = 0; i < bs.n; i++)
            if (lkp[i] != 0.0) { ref = lq; break; }
    }
    int changed = 0;
    for (Py_ssize_t i = 0; i < bs.n; i++) {
        double a = ref[i] - step[i], b = ref[i] + step[i];
        rlo[i] = a;
        rhi[i] = b;
        double lo = dmax(a, qlo[i]), hi = dmin(b, qhi[i]);
        if (lo > hi) lo = hi = (a > qhi[i]) ? qhi[i] : qlo[i];
        double v = qt[i];
        if (v < lo || v > hi) {
            changed = 1;
            qt[i] = v < lo ? lo : hi;
        }
        double w = dqt[i];
        if (w < -dqm[i] || w > dqm[i]) {
            changed = 1;
            dqt[i] = w < -dqm[i] ? -dqm[i] : dqm[i];
        }
    }
    release(&bs);
    return PyBool_FromLong(changed);
fail:
    release(&bs);
    return NULL;
}

/*
 * torque_limit(q_t, dq_t, kp, kd, tau_ff, q, dq, lim, kp_max, kd_max, p_lo, p_hi, r_lo, r_hi)
 *   -> int flags: 1 gains clamped, 2 feed-forward clamped, 4 targets moved
 *
 * Gains are clamped to [0, kp_max] / [0, kd_max], tau_ff to [-lim, lim]. Predicted PD torque
 * tau = kp (q_t - q) + kd (dq_t - dq) + tau_ff; on each joint with |tau| > lim:
 *   stiff (kp > 1e-6): the target moves to the nearest point of the torque-feasible interval
 *     q + (+-lim - rest) / kp (rest = kd (dq_t - dq) + tau_ff) intersected with the position
 *     bounds [p_lo, p_hi], and with the rate box [r_lo, r_hi] too when the three intersect;
 *     if the torque interval lies wholly outside the position bounds, the nearest position
 *     bound (position has priority);
 *   not stiff: dq_t = dq (no stiffness to work with: the damping torque is removed).
 * r_lo / r_hi may be None (no rate box this tick).
 */
static PyObject *torque_limit(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Bufs bs = {.count = 0, .n = -1};
    NARGS(14, "torque_limit");
    GET(qt, 0, 1, "q_target");
    GET(dqt, 1, 1, "dq_target");
    GET(kp, 2, 1, "kp");
    GET(kd, 3, 1, "kd");
    GET(ff, 4, 1, "tau_ff");
    GET(q, 5, 0, "q");
    GET(dq, 6, 0, "dq");
    GET(lim, 7, 0, "lim");
    GET(kpm, 8, 0, "kp_max");
    GET(kdm, 9, 0, "kd_max");
    GET(plo, 10, 0, "p_lo");
    GET(phi, 11, 0, "p_hi");
    double *rlo = NULL, *rhi = NULL;
    if (args[12] != Py_None && args[13] != Py_None) {
        rlo = get(&bs, args[12], 0, "r_lo");
        if (!rlo) goto fail;
        rhi = get(&bs, args[13], 0, "r_hi");
        if (!rhi) goto fail;
    }
    int flags = 0;
    for (Py_ssize_t i = 0; i < bs.n; i++) {
        if (kp[i] < 0.0 || kp[i] > kpm[i]) { kp[i] = kp[i] < 0.0 ? 0.0 : kpm[i]; flags |= 1; }
        if (kd[i] < 0.0 || kd[i] > kdm[i]) { kd[i] = kd[i] < 0.0 ? 0.0 : kdm[i]; flags |= 1; }
        if (ff[i] < -lim[i] || ff[i] > lim[i]) { ff[i] = ff[i] < -lim[i] ? -lim[i] : lim[i];
                                                  flags |= 2; }
        double rest = kd[i] * (dqt[i] - dq[i]) + ff[i];
        double tau = kp[i] * (qt[i] - q[i]) + rest;
        if (!(fabs(tau) > lim[i])) continue;
        flags |= 4;
        if (!(kp[i] > 1e-6)) {
            dqt[i] = dq[i];
            continue;
        }
        double t_lo = q[i] + (-lim[i] - rest) / kp[i];
        double t_hi = q[i] + (lim[i] - rest) / kp[i];
        double lo = dmax(t_lo, plo[i]), hi = dmin(t_hi, phi[i]);
        if (rlo) {
            double a = dmax(lo, rlo[i]), b = dmin(hi, rhi[i]);
            if (a <= b) { lo = a; hi = b; }
        }
        double x;
        if (lo > hi) x = (t_lo > phi[i]) ? phi[i] : plo[i];
        else x = dmin(dmax(qt[i], lo), hi);
        qt[i] = x;
    }
    release(&bs);
    return PyLong_FromLong(flags);
fail:
    release(&bs);
    return NULL;
}

/*
 * pack(block, q_t, dq_t, kp, kd, tau_ff) -> bool: copy the five command arrays into the rows
 * of block (5 x n, float64). False (nothing copied, no error) if any array is not a float64
 * vector of n values: the caller then converts and checks them the slow way.
 */
static PyObject *pack(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Bufs bs = {.count = 0, .n = -1};
    NARGS(6, "pack");
    Py_buffer *blk = &bs.b[0];
    if (PyObject_GetBuffer(args[0], blk, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0)
        return NULL;
    bs.count = 1;
    Py_ssize_t n = blk->len / 8 / 5;
    if (blk->itemsize != 8 || blk->len != n * 5 * 8) {
        PyErr_SetString(PyExc_ValueError, "block must be a float64 array of 5 x n values");
        goto fail;
    }
    double *dst = (double *)blk->buf;
    int ok = 1;
    for (int k = 0; k < 5 && ok; k++) {
        Py_buffer *b = &bs.b[bs.count];
        if (PyObject_GetBuffer(args[1 + k], b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
            PyErr_Clear();
            ok = 0;
            break;
        }
        bs.count++;
        if (!is_f64(b) || b->len != n * 8 || b->ndim != 1) {
            ok = 0;
            break;
        }
        memcpy(dst + k * n, b->buf, (size_t)n * 8);
    }
    release(&bs);
    return PyBool_FromLong(ok);
fail:
    release(&bs);
    return NULL;
}

/* roll_pitch(quat) -> (roll, pitch) [rad], ZYX Euler angles of (w, x, y, z). */
static PyObject *roll_pitch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Bufs bs = {.count = 0, .n = -1};
    NARGS(1, "roll_pitch");
    GET(qu, 0, 0, "quat");
    if (bs.n != 4) {
        PyErr_Format(PyExc_ValueError, "quat must have 4 values (w, x, y, z), got %zd", bs.n);
        goto fail;
    }
    double w = qu[0], x = qu[1], y = qu[2], z = qu[3];
    double roll = atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y));
    double s = 2.0 * (w * y - z * x);
    double pitch = asin(s > 1.0 ? 1.0 : (s < -1.0 ? -1.0 : s));
    release(&bs);
    return Py_BuildValue("(dd)", roll, pitch);
fail:
    release(&bs);
    return NULL;
}

/*
 * pd_torque(q_target, q, dq, kp, kd, tau_max, dq_target, tau_ff, out) -> None
 *   out = min(max(kp (q_target - q) + kd (dq_target - dq) + tau_ff, -tau_max), tau_max),
 *   element by element over equal-sized buffers (n, or K x n for a batch); dq_target None:
 *   kp (q_target - q) - kd dq; tau_ff None: 0. The same operations in the same order as the
 *   numpy formulation in JointPDController (bit-identical results; NaN stays NaN).
 */
static PyObject *pd_torque(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Bufs bs = {.count = 0, .n = -1};
    NARGS(9, "pd_torque");
    GET(qt, 0, 0, "q_target");
    GET(q, 1, 0, "q");
    GET(dq, 2, 0, "dq");
    GET(kp, 3, 0, "kp");
    GET(kd, 4, 0, "kd");
    GET(lim, 5, 0, "tau_max");
    GET(out, 8, 1, "out");
    double *dqt = NULL, *ff = NULL;
    if (args[6] != Py_None) {
        dqt = get(&bs, args[6], 0, "dq_target");
        if (!dqt) goto fail;
    }
    if (args[7] != Py_None) {
        ff = get(&bs, args[7], 0, "tau_ff");
        if (!ff) goto fail;
    }
    for (Py_ssize_t i = 0; i < bs.n; i++) {
        double t = (qt[i] - q[i]) * kp[i];
        if (dqt) t += (dqt[i] - dq[i]) * kd[i];
        else t -= kd[i] * dq[i];
        if (ff) t += ff[i];
        t = t < lim[i] || isnan(t) ? t : lim[i];
        out[i] = t > -lim[i] || isnan(t) ? t : -lim[i];
    }
    release(&bs);
    Py_RETURN_NONE;
fail:
    release(&bs);
    return NULL;
}

/* A strided view of a 1-D or 2-D buffer: item (e, i) at p + e * rs + i * cs. */
typedef struct {
    char *p;
    Py_ssize_t rs, cs;
} View;
#define AT(v, e, i, T) (*(T *)((v).p + (e) * (v).rs + (i) * (v).cs))

/*
 * Acquire o as a (rows, cols) array of one kind ('d' float64, '?' bool, 'q' int64), any
 * strides (numpy slices of wider blocks are fine); a 1-D array stands for (rows, 1) or
 * (1, cols). 0 on success, -1 (error set) on failure.
 */
static int getv(Bufs *bs, PyObject *o, int writable, const char *name, Py_ssize_t rows,
                Py_ssize_t cols, char kind, View *v) {
    Py_buffer *b = &bs->b[bs->count];
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(o, b, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a%s numeric array", name,
                     writable ? " writable" : "");
        return -1;
    }
    bs->count++;
    const char *f = b->format ? b->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    int ok = kind == 'd' ? is_f64(b)
             : kind == '?' ? (b->itemsize == 1 && strcmp(f, "?") == 0)
                           : (b->itemsize == 8 && (strcmp(f, "q") == 0 || strcmp(f, "l") == 0));
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s must be %s (got format '%s')", name,
                     kind == 'd' ? "float64" : kind == '?' ? "bool" : "int64",
                     b->format ? b->format : "?");
        return -1;
    }
    v->p = (char *)b->buf;
    if (b->ndim == 2 && b->shape[0] == rows && b->shape[1] == cols) {
        v->rs = b->strides[0];
        v->cs = b->strides[1];
        return 0;
    }
    if (b->ndim == 1 && b->shape[0] == rows * cols && (rows == 1 || cols == 1)) {
        v->rs = cols == 1 ? b->strides[0] : 0;
        v->cs = cols == 1 ? 0 : b->strides[0];
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "%s must have shape (%zd, %zd)", name, rows, cols);
    return -1;
}

/*
 * numpy's sum of a float64 row (np.add.reduce over the last axis): below 8 values in order
 * from 0.0; up to 128 in eight interleaved partial sums combined as a tree, then the
 * remainder in order. Summing in the same order gives the same sums as the numpy terms.
 */
static double np_sum(const double *a, Py_ssize_t n) {
    double res = 0.0;
    if (n < 8) {
        for (Py_ssize_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    double r[8];
    for (int j = 0; j < 8; j++) r[j] = a[j];
    Py_ssize_t i = 8;
    for (; i < n - (n % 8); i += 8)
        for (int j = 0; j < 8; j++) r[j] += a[i + j];
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[i];
    return res;
}

enum {
    W_TRACK_LIN, W_TRACK_ANG, W_LIN_Z, W_ANG_XY, W_ORIENT, W_HEIGHT, W_TORQUES, W_DOF_ACC,
    W_ACTION_RATE, W_POS_LIMITS, W_COLLISION, W_AIR_TIME, W_STAND_STILL, W_TERMINATION,
    W_NCODES
};
#define WMAXJ 128  /* np_sum follows numpy up to 128 values */

/* np.maximum(x, 0.0): NaN stays NaN. */
static inline double nan_max0(double x) { return x > 0.0 || isnan(x) ? x : 0.0; }

/*
 * walk_terms(codes, weights, out, command, lin_vel, gyro, gravity, height, tau, dq, last_dq,
 *            action, last_action, q, soft_min, soft_max, q0, n_body, at_touchdown, first,
 *            fell, params) -> None
 *   The quad12-walk reward terms (robot_rl/envs/quad12_walk.py: WALK_REWARDS, WALK_CODES)
 *   for K envs in one call. codes: bytes, one code per configured term; weights (T,);
 *   out (T + 1, K): row j = weights[j] x term j, the last row their sum in term order.
 *   Per env (rows of K): command, lin_vel, gyro, gravity (K, 3); height (K,); tau, dq,
 *   last_dq, action, last_action, q (K, n); n_body (K,) int64; at_touchdown (K, f) and
 *   first (K, f) bool; fell (K,) bool. Shared: soft_min, soft_max, q0 (n,); params
 *   (tracking_sigma, base_height_target, feet_air_time_target, dt, standing_below).
 *   The same operations in the same order as the numpy terms: the same bits, but for
 *   exp (libm's; numpy's own SIMD exp may differ by an ulp on CPUs with AVX-512).
 */
static PyObject *walk_terms(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Bufs bs = {.count = 0, .n = -1};
    NARGS(22, "walk_terms");
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "codes must be bytes");
        return NULL;
    }
    const unsigned char *codes = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t nt = PyBytes_GET_SIZE(args[0]);
    for (Py_ssize_t j = 0; j < nt; j++) {
        if (codes[j] >= W_NCODES) {
            PyErr_Format(PyExc_ValueError, "unknown walk term code %d", (int)codes[j]);
            return NULL;
        }
    }
    /* the sizes: K from height (K,), n from q0 (n,), feet from at_touchdown (K, f) */
    Py_ssize_t k = PyObject_Length(args[7]), n = PyObject_Length(args[16]);
    if (k < 0 || n < 0) return NULL;
    PyObject *shape = PyObject_GetAttrString(args[18], "shape");
    if (!shape) return NULL;
    Py_ssize_t nf = PyTuple_Check(shape) && PyTuple_GET_SIZE(shape) == 2
                        ? PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, 1)) : -1;
    Py_DECREF(shape);
    if (nf < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "at_touchdown must have shape (K, n_feet)");
        return NULL;
    }
    if (n > WMAXJ || nf > WMAXJ) {
        PyErr_Format(PyExc_ValueError, "walk_terms: at most %d joints and feet", WMAXJ);
        return NULL;
    }
    View wt, out, cmd, lin, gyro, grav, height, tau, dq, ldq, act, lact, q, qlo, qhi, q0, nbody,
        atd, first, fell, par;
#define GV(v, i, w, name, rows, cols, kind)                                              \
    if (getv(&bs, args[i], (w), (name), (rows), (cols), (kind), &(v)) < 0) goto fail;
    GV(wt, 1, 0, "weights", 1, nt, 'd');
    GV(out, 2, 1, "out", nt + 1, k, 'd');
    GV(cmd, 3, 0, "command", k, 3, 'd');
    GV(lin, 4, 0, "lin_vel", k, 3, 'd');
    GV(gyro, 5, 0, "gyro", k, 3, 'd');
    GV(grav, 6, 0, "gravity", k, 3, 'd');
    GV(height, 7, 0, "height", k, 1, 'd');
    GV(tau, 8, 0, "tau", k, n, 'd');
    GV(dq, 9, 0, "dq", k, n, 'd');
    GV(ldq, 10, 0, "last_dq", k, n, 'd');
    GV(act, 11, 0, "action", k, n, 'd');
    GV(lact, 12, 0, "last_action", k, n, 'd');
    GV(q, 13, 0, "q", k, n, 'd');
    GV(qlo, 14, 0, "soft_min", 1, n, 'd');
    GV(qhi, 15, 0, "soft_max", 1, n, 'd');
    GV(q0, 16, 0, "q0", 1, n, 'd');
    GV(nbody, 17, 0, "n_body", k, 1, 'q');
    GV(atd, 18, 0, "at_touchdown", k, nf, 'd');
    GV(first, 19, 0, "first", k, nf, '?');
    GV(fell, 20, 0, "fell", k, 1, '?');
    GV(par, 21, 0, "params", 1, 5, 'd');
#undef GV
#define D(v, e, i) AT(v, e, i, double)
    double sigma = D(par, 0, 0), h_target = D(par, 0, 1), air_target = D(par, 0, 2);
    double dt = D(par, 0, 3), standing = D(par, 0, 4);
    double buf[WMAXJ];
    for (Py_ssize_t e = 0; e < k; e++) {
        int moving = hypot(D(cmd, e, 0), D(cmd, e, 1)) >= standing;
        double total = 0.0;
        for (Py_ssize_t j = 0; j < nt; j++) {
            double r = 0.0, d0, d1;
            switch (codes[j]) {
            case W_TRACK_LIN:
                d0 = D(cmd, e, 0) - D(lin, e, 0);
                d1 = D(cmd, e, 1) - D(lin, e, 1);
                r = exp((d0 * d0 + d1 * d1) / -sigma);
                break;
            case W_TRACK_ANG:
                d0 = D(cmd, e, 2) - D(gyro, e, 2);
                r = exp(-(d0 * d0) / sigma);
                break;
            case W_LIN_Z: r = D(lin, e, 2) * D(lin, e, 2); break;
            case W_ANG_XY: r = D(gyro, e, 0) * D(gyro, e, 0) + D(gyro, e, 1) * D(gyro, e, 1); break;
            case W_ORIENT: r = D(grav, e, 0) * D(grav, e, 0) + D(grav, e, 1) * D(grav, e, 1); break;
            case W_HEIGHT:
                d0 = D(height, e, 0) - h_target;
                r = d0 * d0;
                break;
            case W_TORQUES:
                for (Py_ssize_t i = 0; i < n; i++) buf[i] = D(tau, e, i) * D(tau, e, i);
                r = np_sum(buf, n);
                break;
            case W_DOF_ACC:
                for (Py_ssize_t i = 0; i < n; i++) {
                    double a = (D(dq, e, i) - D(ldq, e, i)) / dt;
                    buf[i] = a * a;
                }
                r = np_sum(buf, n);
                break;
            case W_ACTION_RATE:
                for (Py_ssize_t i = 0; i < n; i++) {
                    double d = D(act, e, i) - D(lact, e, i);
                    buf[i] = d * d;
                }
                r = np_sum(buf, n);
                break;
            case W_POS_LIMITS:
                for (Py_ssize_t i = 0; i < n; i++)
                    buf[i] = nan_max0(D(qlo, 0, i) - D(q, e, i))
                             + nan_max0(D(q, e, i) - D(qhi, 0, i));
                r = np_sum(buf, n);
                break;
            case W_COLLISION: r = (double)AT(nbody, e, 0, long long); break;
            case W_AIR_TIME:
                for (Py_ssize_t i = 0; i < nf; i++)
                    buf[i] = (D(atd, e, i) - air_target)
                             * (AT(first, e, i, unsigned char) ? 1.0 : 0.0);
                r = moving ? np_sum(buf, nf) : 0.0;
                break;
            case W_STAND_STILL:
                for (Py_ssize_t i = 0; i < n; i++) buf[i] = fabs(D(q, e, i) - D(q0, 0, i));
                r = moving ? 0.0 : np_sum(buf, n);
                break;
            case W_TERMINATION: r = AT(fell, e, 0, unsigned char) ? 1.0 : 0.0; break;
            }
            double value = D(wt, 0, j) * r;
            D(out, j, e) = value;
            total += value;
        }
        D(out, nt, e) = total;
    }
#undef D
    release(&bs);
    Py_RETURN_NONE;
fail:
    release(&bs);
    return NULL;
}

#define FAST(name) {#name, (PyCFunction)(void (*)(void))name, METH_FASTCALL, NULL}
static PyMethodDef methods[] = {
    FAST(all_finite), FAST(clamp), FAST(tracking), FAST(ramp),
    FAST(rate_limit), FAST(torque_limit), FAST(pack), FAST(roll_pitch), FAST(pd_torque),
    FAST(walk_terms),
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "robot_rl.safety._kernels",
                                    "Numeric cores of the safety stages, the PD controller and the walk rewards (see _kernels.c).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
