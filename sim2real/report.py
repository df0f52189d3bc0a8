"""An identification against known parameters (a reality proxy's, recorded in its log's meta
by `sim2real.experiment.proxy_truth`): relative errors per parameter."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim2real.params import SysIdParams


def compare(found: SysIdParams, truth: dict[str, Any]) -> dict[str, Any]:
    """Relative errors of an identification against known parameters (a proxy's): the
    global scales, and per joint the largest error over the joints."""
    out: dict[str, Any] = {}
    for k in SysIdParams.SCALES:
        out[k] = {"found": round(getattr(found, k), 4), "true": round(truth[k], 4),
                  "rel_error": round(abs(getattr(found, k) / truth[k] - 1.0), 4)}
    for k in SysIdParams.PER_JOINT:
        f, t = np.asarray(getattr(found, k)), np.asarray(truth[k])
        out[k] = {"max_rel_error": round(float(np.max(np.abs(f / t - 1))), 4),
                  "median_rel_error": round(float(np.median(np.abs(f / t - 1))), 4),
                  "found": np.round(f, 4).tolist(), "true": np.round(t, 4).tolist()}
    out["latency_ticks"] = {"found": found.latency_ticks, "true": truth["latency_ticks"]}
    per = list(SysIdParams.PER_JOINT)
    if found.body_mass_scale and "body_mass_scale" in truth:
        f, t = np.asarray(found.body_mass_scale), np.asarray(truth["body_mass_scale"])
        err = np.abs(f / t - 1)
        seen = found.observable()
        out["body_mass_scale"] = {
            "max_rel_error": round(float(np.max(err[seen], initial=0.0)), 4),
            "median_rel_error": round(float(np.median(err[seen])) if seen.any() else 0.0, 4),
            "unobservable": [found.body_names[i] if found.body_names else int(i)
                             for i in np.flatnonzero(~seen)],
            "unobservable_max_rel_error": round(float(np.max(err[~seen], initial=0.0)), 4),
            "found": np.round(f, 4).tolist(), "true": t.tolist(),
            "posterior_std": np.round(found.body_mass_std, 4).tolist()}
        per.append("body_mass_scale")
        c = np.asarray(found.body_com_shift) - np.asarray(truth["body_com_shift"])
        out["body_com_shift"] = {"max_abs_error_mm": round(float(np.abs(c).max()) * 1e3, 2),
                                 "rms_error_mm": round(float(np.sqrt(np.mean(c ** 2))) * 1e3, 2),
                                 "true_rms_mm": round(float(np.sqrt(np.mean(np.asarray(
                                     truth["body_com_shift"]) ** 2))) * 1e3, 2)}
    out["max_rel_error"] = round(max([out[k]["rel_error"] for k in SysIdParams.SCALES]
                                     + [out[k]["max_rel_error"] for k in per]), 4)
    return out


__all__ = ["compare"]
