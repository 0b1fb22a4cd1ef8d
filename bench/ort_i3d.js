// ort_i3d.js -- the ONNX Runtime side of bench/bench_i3d_ort.py: keeps one
// InferenceSession per thread count and answers the driver's requests on
// stdin, one per line, so that the two libraries can be timed interleaved.
//
//   node bench/ort_i3d.js ORT_PACKAGE_DIR MODEL.onnx CLIP.f32 T H W
//
// ORT_PACKAGE_DIR is the unpacked npm package onnxruntime-node (with
// onnxruntime-common in its node_modules); CLIP.f32 is one clip, float32,
// [1, 3, T, H, W].  Requests:
//   run THREADS        one timed pass: "ms=.. cpu_ms=.." (the session's first,
//                      untimed pass runs when it is created)
//   feature THREADS F  writes the 1024 features of the clip to F (float32)
//   version            "onnxruntime-node 1.30.0"
'use strict';
const fs = require('fs');
const readline = require('readline');

const [pkg, model, clipPath, T, H, W] = process.argv.slice(2);
let ort;
try {
    ort = require(pkg);
} catch (e) {
    process.stdout.write('error cannot load onnxruntime-node from ' + pkg + ': ' + e.message + '\n');
    process.exit(1);
}
const buf = fs.readFileSync(clipPath);
const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
const clip = new ort.Tensor('float32', data, [1, 3, +T, +H, +W]);
const sessions = new Map();

async function session(threads) {
    if (!sessions.has(threads)) {
        // ONNX Runtime's defaults otherwise: all graph optimisations, its own
        // thread pool of `threads` (spinning while it waits, as it does out
        // of the box).
        const s = await ort.InferenceSession.create(model, {
            intraOpNumThreads: threads,
            interOpNumThreads: 1,
            executionMode: 'sequential',
            graphOptimizationLevel: 'all',
        });
        await s.run({[s.inputNames[0]]: clip});
        sessions.set(threads, s);
    }
    return sessions.get(threads);
}

async function handle(line) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'version')
        return 'onnxruntime-node ' + ort.env.versions.node;
    const s = await session(+w[1]);
    const feeds = {[s.inputNames[0]]: clip};
    if (w[0] === 'run') {
        const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
        await s.run(feeds);
        const t1 = process.hrtime.bigint(), c = process.cpuUsage(c0);
        return 'ms=' + (Number(t1 - t0) / 1e6).toFixed(1) + ' cpu_ms=' +
               ((c.user + c.system) / 1e3).toFixed(1);
    }
    if (w[0] === 'feature') {
        const out = await s.run(feeds);
        const f = out[s.outputNames[0]].data;
        fs.writeFileSync(w[2], Buffer.from(f.buffer, f.byteOffset, f.byteLength));
        return 'ok ' + f.length;
    }
    return 'error unknown request ' + w[0];
}

const rl = readline.createInterface({input: process.stdin});
let chain = Promise.resolve();
rl.on('line', (line) => {
    chain = chain.then(() => handle(line))
                .then((r) => process.stdout.write(r + '\n'),
                      (e) => process.stdout.write('error ' + e.message.replace(/\n/g, ' ') + '\n'));
});
