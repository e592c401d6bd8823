#!/usr/bin/env node
// A client of scratch's case files in JavaScript (Node, no dependencies): the two-layer
// tanh/softmax network with every derivative by hand, computed in doubles.
//
//   python -m scratch cases export DIR --format json
//   node scripts/js/scratch_net.js DIR [--bug bias-mean]
//   python -m scratch cases check DIR
//
// Reads DIR/manifest.json and each case's inputs.json; writes each case's outputs.json
// {loss, dW1, db1, dW2, db2, dz1, dz2} where the manifest says (format: docs/case-files.md).
// --bug bias-mean swaps one line for a classic mistake (db1 = mean over samples) to show that
// `cases check` catches and names it.
"use strict";
const fs = require("fs");
const path = require("path");

const zeros = (r, c) => Array.from({ length: r }, () => new Array(c).fill(0));
const matmul = (A, B) => A.map((row) => B[0].map((_, j) => row.reduce((s, a, k) => s + a * B[k][j], 0)));
const T = (A) => A[0].map((_, j) => A.map((row) => row[j]));
const sumRows = (A) => A[0].map((_, j) => A.reduce((s, row) => s + row[j], 0));
const addRow = (A, b) => A.map((row) => row.map((v, j) => v + b[j]));

function lossAndGrads({ W1, b1, W2, b2, x, y }, labels, bug) {
  const N = x.length, C = b2.length;
  const z1 = addRow(matmul(x, W1), b1); //                          (1) z1 = x W1 + b1     (N, H)
  const a1 = z1.map((r) => r.map(Math.tanh)); //                     (2) a1 = tanh z1       (N, H)
  const z2 = addRow(matmul(a1, W2), b2); //                          (3) z2 = a1 W2 + b2    (N, C)
  const Y = labels ? y.map((l) => Array.from({ length: C }, (_, c) => (c === l ? 1 : 0))) : y; // (6) y_n = onehot(label_n)
  let L = 0;
  const dz2 = zeros(N, C);
  for (let n = 0; n < N; n++) {
    const row = z2[n];
    const m = row.indexOf(Math.max(...row)); //                      max-shift: exp(z - max z) <= 1
    const e = row.map((z) => Math.exp(z - row[m]));
    const others = e.reduce((a, v, k) => a + (k === m ? 0 : v), 0); // T = sum_{k != m} exp(z_k - z_m), not sum - 1
    const logYhat = row.map((z) => z - row[m] - Math.log1p(others)); // (4),(5) log yhat = z - logsumexp z
    const s = Y[n].reduce((a, v) => a + v, 0); //                    s_n = sum_c y_nc (1 for labels)
    L -= Y[n].reduce((a, v, c) => a + (v === 0 ? 0 : v * logYhat[c]), 0) / N; // (6),(7) L = -(1/N) sum_n y_n . log yhat_n
    for (let c = 0; c < C; c++) dz2[n][c] = ((e[c] / (1 + others)) * s - Y[n][c]) / N; // (4') dz2 = (yhat s - y)/N
    const rest = Y[n].reduce((a, v, c) => a + (c === m ? 0 : v), 0); // argmax column without cancellation:
    dz2[n][m] = (rest - Y[n][m] * others) / (1 + others) / N; //     (4') yhat_m s - y_m = (sum_{k!=m} y_k - y_m T)/(1+T)
  }
  const dW2 = matmul(T(a1), dz2); //                                 (3')  dW2 = a1^T dz2   (H, C)
  const db2 = sumRows(dz2); //                                       (3')  db2 = sum_n dz2  (C,)
  const da1 = matmul(dz2, T(W2)); //                                 (3'') da1 = dz2 W2^T   (N, H)
  const sech2 = (z) => { const u = Math.exp(-2 * Math.abs(z)); return (4 * u) / (1 + u) ** 2; }; // (2') tanh' = sech^2, no 1 - a1^2 cancellation
  const dz1 = da1.map((r, n) => r.map((v, h) => v * sech2(z1[n][h]))); // (2') dz1 = da1 * tanh'(z1) (N, H)
  const dW1 = matmul(T(x), dz1); //                                  (1')  dW1 = x^T dz1    (D, H)
  const db1 = bug === "bias-mean" ? sumRows(dz1).map((v) => v / N) : sumRows(dz1); // (1') db1 = sum_n dz1 (H,)  [bug: the mean]
  return { loss: L, dW1, db1, dW2, db2, dz1, dz2 };
}

function main(argv) {
  const bugAt = argv.indexOf("--bug");
  const bug = bugAt >= 0 ? argv[bugAt + 1] : null;
  const dir = argv.filter((a, i) => bugAt < 0 || (i !== bugAt && i !== bugAt + 1))[0];
  if (!dir || (bug !== null && bug !== "bias-mean")) {
    console.error("usage: node scratch_net.js DIR [--bug bias-mean]");
    return 2;
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  if (manifest.format !== "scratch-case-files" || manifest.version !== 1 || manifest.layout !== "json") {
    console.error(`${dir}: expected a version 1 scratch-case-files manifest with layout json`);
    return 2;
  }
  for (const c of manifest.cases) {
    const inputs = JSON.parse(fs.readFileSync(path.join(dir, c.inputs), "utf8"));
    const out = lossAndGrads(inputs, c.target === "labels", bug);
    fs.writeFileSync(path.join(dir, c.outputs), JSON.stringify(out)); // NaN/Infinity become null: checked as non-finite
  }
  console.log(`wrote outputs for ${manifest.cases.length} case(s) in ${dir}${bug ? ` (bug: ${bug})` : ""}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
