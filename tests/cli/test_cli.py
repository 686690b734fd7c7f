"""End-to-end test of the `convt3d` CLI on .npy files, against a NumPy scatter-form reference.

Usage: test_cli.py PATH_TO_convt3d
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

CLI = sys.argv[1]


def reference(x, w, b, stride, padding, output_padding, dilation, groups):
    n, cin, d, h, wd = x.shape
    cout = w.shape[1] * groups
    k = w.shape[2:]
    out_size = [(s - 1) * st - 2 * p + dl * (kk - 1) + op + 1
                for s, st, p, dl, kk, op in zip((d, h, wd), stride, padding, dilation, k, output_padding)]
    out = np.zeros((n, cout, *out_size))
    cin_g, cout_g = cin // groups, cout // groups
    for ci in range(cin):
        g = ci // cin_g
        for kd in range(k[0]):
            for kh in range(k[1]):
                for kw in range(k[2]):
                    od = np.arange(d) * stride[0] - padding[0] + kd * dilation[0]
                    oh = np.arange(h) * stride[1] - padding[1] + kh * dilation[1]
                    ow = np.arange(wd) * stride[2] - padding[2] + kw * dilation[2]
                    md, mh, mw = (od >= 0) & (od < out_size[0]), (oh >= 0) & (oh < out_size[1]), (ow >= 0) & (ow < out_size[2])
                    contrib = np.einsum("ndhw,c->ncdhw", x[:, ci].astype(np.float64), w[ci, :, kd, kh, kw].astype(np.float64))
                    sel = contrib[:, :, md][:, :, :, mh][:, :, :, :, mw]
                    out[:, g * cout_g:(g + 1) * cout_g][np.ix_(range(n), range(cout_g), od[md], oh[mh], ow[mw])] += sel
    if b is not None:
        out += b.reshape(1, -1, 1, 1, 1)
    return out


def run(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True)


failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


rng = np.random.default_rng(5)
with tempfile.TemporaryDirectory() as tmp:
    p = lambda name: os.path.join(tmp, name)
    cases = [
        dict(cin=4, cout=6, k=(3, 2, 2), stride=(2, 1, 2), padding=(1, 0, 1), op=(1, 0, 0), dil=(1, 1, 1), groups=2, bias=True),
        dict(cin=3, cout=2, k=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0), op=(0, 0, 0), dil=(1, 1, 1), groups=1, bias=False),
        dict(cin=2, cout=4, k=(3, 3, 3), stride=(1, 1, 1), padding=(2, 2, 2), op=(0, 1, 0), dil=(2, 2, 2), groups=2, bias=True),
    ]
    for i, c in enumerate(cases):
        x = rng.uniform(-1, 1, (2, c["cin"], 3, 4, 5)).astype(np.float32)
        w = rng.uniform(-1, 1, (c["cin"], c["cout"] // c["groups"], *c["k"])).astype(np.float32)
        b = rng.uniform(-1, 1, (c["cout"],)).astype(np.float32) if c["bias"] else None
        np.save(p("x.npy"), x)
        np.save(p("w.npy"), w)
        args = ["run", "--input", p("x.npy"), "--weight", p("w.npy"), "--output", p("y.npy"),
                "--stride", ",".join(map(str, c["stride"])), "--padding", ",".join(map(str, c["padding"])),
                "--output-padding", ",".join(map(str, c["op"])), "--dilation", ",".join(map(str, c["dil"])),
                "--groups", str(c["groups"])]
        if b is not None:
            np.save(p("b.npy"), b)
            args += ["--bias", p("b.npy")]
        r = run(*args)
        check(r.returncode == 0, f"case {i}: exit 0 ({r.stderr.strip()})")
        if r.returncode == 0:
            y = np.load(p("y.npy"))
            ref = reference(x, w, b, c["stride"], c["padding"], c["op"], c["dil"], c["groups"])
            check(y.shape == ref.shape, f"case {i}: shape {y.shape} == {ref.shape}")
            if y.shape == ref.shape:
                err = float(np.max(np.abs(y - ref) / (1 + np.abs(ref))))
                check(err < 1e-5, f"case {i}: max error {err:.2e} < 1e-5")

    np.save(p("x.npy"), rng.uniform(-1, 1, (1, 4, 3, 3, 3)).astype(np.float32))
    np.save(p("w.npy"), rng.uniform(-1, 1, (4, 3, 2, 2, 2)).astype(np.float32))
    np.save(p("x64.npy"), rng.uniform(-1, 1, (1, 4, 3, 3, 3)))  # float64
    base = ["run", "--weight", p("w.npy"), "--output", p("y.npy")]
    bad = {
        "missing input file": base + ["--input", p("nope.npy")],
        "float64 input": base + ["--input", p("x64.npy")],
        "bad stride value": base + ["--input", p("x.npy"), "--stride", "2,x"],
        "stride with two values": base + ["--input", p("x.npy"), "--stride", "2,2"],
        "groups not dividing": base + ["--input", p("x.npy"), "--groups", "3"],
        "unknown device": base + ["--input", p("x.npy"), "--device", "tpu"],
        "padding mode": base + ["--input", p("x.npy"), "--padding-mode", "reflect"],
        "missing --input": base,
    }
    for what, args in bad.items():
        r = run(*args)
        lines = r.stderr.strip().splitlines()
        check(r.returncode != 0 and len(lines) == 1 and lines[0].startswith("convt3d: error:"),
              f"{what}: non-zero exit and one error line ({r.returncode}, {r.stderr.strip()!r})")

    # On a machine without a GPU, --device cuda must fail with one clear line, not crash.
    r = run("run", "--input", p("x.npy"), "--weight", p("w.npy"), "--output", p("y.npy"), "--device", "cuda")
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 0 or (len(lines) == 1 and lines[0].startswith("convt3d: error:")),
          f"--device cuda: success on a GPU, else one error line ({r.returncode}, {r.stderr.strip()!r})")

print(f"{3 * 3 + 9 - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
