#!/usr/bin/env python3
"""Train kycd's MRZ cell classifier and export it to ONNX.

Input: the cell files written by `cargo run --release -p kycd-checks --example mrz_cells`
(records of 1 label byte + 24 x 20 grey bytes, ink = 255). Output: an ONNX model
(input `cells` [N, 1, 24, 20] float in 0..1, output `probs` [N, 37] softmax over
"0-9 A-Z <").

Why numpy and a hand-written trainer: the network is tiny (three 3x3 convolutions and
two dense layers, ~0.2 M weights), and the CPU builds of the usual frameworks are not on
PyPI (PyPI's torch for Linux pulls the CUDA libraries, gigabytes). numpy does the
arithmetic; `onnx` writes the file. Seeded: the same data and seed give the same weights
(on the same numpy/BLAS build).

    scripts/train-mrz-cells   # the whole recipe: venv, data, training, export (docs/checks.md)
"""

import argparse
import time

import numpy as np

W, H, CLASSES = 20, 24, 37
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"


def load(paths):
    raw = np.concatenate([np.fromfile(p, dtype=np.uint8) for p in paths])
    rec = 1 + W * H
    if raw.size % rec:
        raise SystemExit(f"cell file size {raw.size} is not a multiple of {rec}: not written by examples/mrz_cells")
    raw = raw.reshape(-1, rec)
    y = raw[:, 0].astype(np.int64)
    if y.max() >= CLASSES:
        raise SystemExit("label out of range")
    x = raw[:, 1:].reshape(-1, H, W, 1)
    return x, y


# ----- layers (NHWC) ---------------------------------------------------------------------

def im2col(x):
    n, h, w, c = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(p, (3, 3), axis=(1, 2))  # n h w c 3 3
    return np.ascontiguousarray(win).reshape(n * h * w, c * 9)


def col2im(dcols, shape):
    n, h, w, c = shape
    d = dcols.reshape(n, h, w, c, 3, 3)
    dp = np.zeros((n, h + 2, w + 2, c), dtype=dcols.dtype)
    for ky in range(3):
        for kx in range(3):
            dp[:, ky:ky + h, kx:kx + w, :] += d[..., ky, kx]
    return dp[:, 1:-1, 1:-1, :]


def pool_fwd(x):
    n, h, w, c = x.shape
    r = x.reshape(n, h // 2, 2, w // 2, 2, c)
    out = r.max(axis=(2, 4))
    mask = r == out[:, :, None, :, None, :]
    return out, mask


def pool_bwd(dout, mask):
    n, h2, w2, c = dout.shape
    d = mask * dout[:, :, None, :, None, :]
    return d.reshape(n, h2 * 2, w2 * 2, c)


class Net:
    shapes = {
        "c1": (1 * 9, 16), "c2": (16 * 9, 32), "c3": (32 * 9, 48),
        "f1": (6 * 5 * 48, 96), "f2": (96, CLASSES),
    }

    def __init__(self, rng):
        self.p = {}
        for k, (fan_in, out) in self.shapes.items():
            self.p[k + "w"] = (rng.standard_normal((fan_in, out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
            self.p[k + "b"] = np.zeros(out, dtype=np.float32)

    def forward(self, x, keep=False):
        p, cache = self.p, {}
        n = x.shape[0]
        a = x
        for i, k in enumerate(["c1", "c2", "c3"]):
            cols = im2col(a)
            z = cols @ p[k + "w"] + p[k + "b"]
            z = z.reshape(a.shape[0], a.shape[1], a.shape[2], -1)
            r = np.maximum(z, 0)
            cache[k] = (cols, a.shape, z > 0)
            if i < 2:
                r, mask = pool_fwd(r)
                cache[k + "pool"] = mask
            a = r
        flat = a.reshape(n, -1)
        z1 = flat @ p["f1w"] + p["f1b"]
        h1 = np.maximum(z1, 0)
        logits = h1 @ p["f2w"] + p["f2b"]
        if keep:
            cache.update(flat=flat, a3shape=a.shape, z1=z1, h1=h1)
            self.cache = cache
        return logits

    def backward(self, dlogits):
        p, c, g = self.p, self.cache, {}
        g["f2w"] = c["h1"].T @ dlogits
        g["f2b"] = dlogits.sum(0)
        dh1 = dlogits @ p["f2w"].T * (c["z1"] > 0)
        g["f1w"] = c["flat"].T @ dh1
        g["f1b"] = dh1.sum(0)
        da = (dh1 @ p["f1w"].T).reshape(c["a3shape"])
        for i, k in reversed(list(enumerate(["c1", "c2", "c3"]))):
            if i < 2:
                da = pool_bwd(da, c[k + "pool"])
            cols, in_shape, pos = c[k]
            dz = (da * pos).reshape(-1, da.shape[-1])
            g[k + "w"] = cols.T @ dz
            g[k + "b"] = dz.sum(0)
            if i > 0:
                da = col2im(dz @ p[k + "w"].T, in_shape)
        return g


def softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def evaluate(net, x, y, batch=2048):
    wrong = 0
    for i in range(0, len(y), batch):
        logits = net.forward(x[i:i + batch].astype(np.float32) / 255.0)
        wrong += int((logits.argmax(1) != y[i:i + batch]).sum())
    return wrong


def export(net, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    p = net.p
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))

    prev = "cells"
    for i, (k, cin, cout) in enumerate([("c1", 1, 16), ("c2", 16, 32), ("c3", 32, 48)]):
        # im2col order is (c, ky, kx): the ONNX kernel is [out, in, 3, 3].
        const(k + "_w", p[k + "w"].T.reshape(cout, cin, 3, 3))
        const(k + "_b", p[k + "b"])
        nodes.append(helper.make_node("Conv", [prev, k + "_w", k + "_b"], [k], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [k], [k + "_r"]))
        prev = k + "_r"
        if i < 2:
            nodes.append(helper.make_node("MaxPool", [prev], [k + "_p"], kernel_shape=[2, 2], strides=[2, 2]))
            prev = k + "_p"
    nodes.append(helper.make_node("Flatten", [prev], ["flat"], axis=1))
    # The numpy flatten is (h, w, c); ONNX's of NCHW is (c, h, w): reorder the rows.
    f1 = p["f1w"].reshape(6, 5, 48, 96).transpose(2, 0, 1, 3).reshape(-1, 96)
    const("f1_w", f1)
    const("f1_b", p["f1b"])
    const("f2_w", p["f2w"])
    const("f2_b", p["f2b"])
    nodes.append(helper.make_node("Gemm", ["flat", "f1_w", "f1_b"], ["f1"]))
    nodes.append(helper.make_node("Relu", ["f1"], ["f1_r"]))
    nodes.append(helper.make_node("Gemm", ["f1_r", "f2_w", "f2_b"], ["logits"]))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1))
    graph = helper.make_graph(
        nodes, "mrz_cells",
        [helper.make_tensor_value_info("cells", TensorProto.FLOAT, ["n", 1, H, W])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", CLASSES])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="kycd train_mrz_cells.py")
    model.ir_version = 8
    helper.set_model_props(model, {"alphabet": ALPHABET, "input": f"{H}x{W} ink=1",
                                   "licence": "kycd project's own work, same licence as kycd"})
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", nargs="+", required=True, help="cell files from examples/mrz_cells")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=24)
    ap.add_argument("--filler-keep", type=float, default=0.3,
                    help="share of the `<` cells kept (about half of all cells are fillers)")
    ap.add_argument("--init-only", action="store_true", help="export the untrained network (bootstrap)")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    net = Net(rng)
    if a.init_only:
        export(net, a.out)
        return
    x, y = load(a.data)
    if a.filler_keep < 1.0:
        keep = (y != CLASSES - 1) | (rng.random(len(y)) < a.filler_keep)
        x, y = x[keep], y[keep]
    order = rng.permutation(len(y))
    n_val = min(5000, len(y) // 20)
    val, tr = order[:n_val], order[n_val:]
    xv, yv = x[val], y[val]
    print(f"{len(tr)} training cells, {n_val} held back; classes {np.bincount(y, minlength=CLASSES).tolist()}", flush=True)
    m = {k: np.zeros_like(v) for k, v in net.p.items()}
    v2 = {k: np.zeros_like(v) for k, v in net.p.items()}
    step, b1, b2 = 0, 0.9, 0.999
    total_steps = a.epochs * (len(tr) // a.batch)
    started = time.time()
    for epoch in range(a.epochs):
        rng.shuffle(tr)
        loss_sum, seen = 0.0, 0
        for i in range(0, len(tr) - a.batch + 1, a.batch):
            idx = np.sort(tr[i:i + a.batch])
            xb = x[idx].astype(np.float32) / 255.0
            yb = y[idx]
            logits = net.forward(xb, keep=True)
            prob = softmax(logits)
            loss_sum += float(-np.log(prob[np.arange(len(yb)), yb] + 1e-9).sum())
            seen += len(yb)
            d = prob
            d[np.arange(len(yb)), yb] -= 1.0
            g = net.backward(d / len(yb))
            step += 1
            # Cosine decay of the learning rate to 5 % over the run.
            lr = a.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * step / total_steps)))
            for k in net.p:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v2[k] = b2 * v2[k] + (1 - b2) * g[k] * g[k]
                mh = m[k] / (1 - b1 ** step)
                vh = v2[k] / (1 - b2 ** step)
                net.p[k] -= (lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        wrong = evaluate(net, xv, yv)
        print(f"epoch {epoch + 1}: loss {loss_sum / max(seen, 1):.4f}, held-back errors {wrong}/{n_val}, "
              f"{time.time() - started:.0f} s", flush=True)
    export(net, a.out)
    print(f"wrote {a.out} after {time.time() - started:.0f} s of training", flush=True)


if __name__ == "__main__":
    main()
