/*
 * Numeric cores of the safety stages, one C call per stage per tick, and of the joint PD
 * controller (robot_rl/control/pd.py, one call per physics step for K robots).
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

#define MAXB 16

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
        PyErr_SetString(PyExc_TypeError, "all_finite() takes 1 to 16 arrays");
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

#define FAST(name) {#name, (PyCFunction)(void (*)(void))name, METH_FASTCALL, NULL}
static PyMethodDef methods[] = {
    FAST(all_finite), FAST(clamp), FAST(tracking), FAST(ramp),
    FAST(rate_limit), FAST(torque_limit), FAST(pack), FAST(roll_pitch), FAST(pd_torque),
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "robot_rl.safety._kernels",
                                    "Numeric cores of the safety stages and the PD controller (see _kernels.c).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
