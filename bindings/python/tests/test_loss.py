"""test_loss.py -- arnet.loss_dmil / loss_center / loss_kmax_mil against
double-precision references of docs/method.md eq. 3-7 written here (losses and
gradients with respect to the logits), and their argument checks."""
import math
import random
import unittest

import arnet
from helpers import f32, needs, sigmoid, to_list


def softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def topk(z, alpha):
    k = int(math.ceil(len(z) / alpha))
    order = sorted(range(len(z)), key=lambda i: (-z[i], i))  # ties: lower index
    return order[:k]


def ref_dmil(z, y, alpha):
    idx = topk(z, alpha)
    k = len(idx)
    # BCE from logits: -[y log s + (1-y) log(1-s)] = y softplus(-z) + (1-y) softplus(z)
    loss = sum(y * softplus(-z[i]) + (1 - y) * softplus(z[i]) for i in idx) / k
    grad = [0.0] * len(z)
    for i in idx:
        grad[i] = (sigmoid(z[i]) - y) / k
    return loss, grad


def ref_center(z, y):
    n = len(z)
    if y == 1:
        return 0.0, [0.0] * n
    s = [sigmoid(v) for v in z]
    c = sum(s) / n
    loss = sum((v - c) ** 2 for v in s) / n
    grad = [2.0 / n * (v - c) * v * (1 - v) for v in s]
    return loss, grad


def ref_kmax(z, y, alpha):
    idx = topk(z, alpha)
    k = len(idx)
    m = sum(sigmoid(z[i]) for i in idx) / k
    loss = -(y * math.log(m) + (1 - y) * math.log(1 - m))
    dm = (m - y) / (m * (1 - m))
    grad = [0.0] * len(z)
    for i in idx:
        s = sigmoid(z[i])
        grad[i] = dm * s * (1 - s) / k
    return loss, grad


class LossTest(unittest.TestCase):
    def cases(self):
        r = random.Random(11)
        for n in (1, 2, 3, 4, 5, 8, 13, 31):
            for y in (0, 1):
                yield [f32(r.uniform(-4, 4)) for _ in range(n)], y

    def check(self, got, want, tol=2e-6):
        loss, grad = got
        self.assertAlmostEqual(loss, want[0], delta=tol * max(1.0, abs(want[0])))
        grad = to_list(grad)
        self.assertEqual(len(grad), len(want[1]))
        for g, w in zip(grad, want[1]):
            self.assertAlmostEqual(g, w, delta=tol)

    @needs("arnet_loss_dmil")
    def test_dmil(self):
        for z, y in self.cases():
            for alpha in (1.0, 4.0, 2.5):
                with self.subTest(n=len(z), y=y, alpha=alpha):
                    self.check(arnet.loss_dmil(z, y, alpha=alpha), ref_dmil(z, y, alpha))

    @needs("arnet_loss_dmil")
    def test_dmil_hand_worked(self):
        # n = 5, alpha = 4: k = 2, the clips with logits 2 and 3.
        z = [0.1, 2.0, -1.0, 3.0, 0.5]
        loss, grad = arnet.loss_dmil(z, 1)
        self.assertAlmostEqual(loss, (softplus(-2.0) + softplus(-3.0)) / 2, places=6)
        self.assertEqual([g == 0 for g in to_list(grad)], [True, False, True, False, True])
        # Ties go to the lower index.
        _, grad = arnet.loss_dmil([1.0, 1.0, 1.0, 1.0], 0, alpha=4.0)
        self.assertEqual([g != 0 for g in to_list(grad)], [True, False, False, False])

    @needs("arnet_loss_center")
    def test_center(self):
        for z, y in self.cases():
            with self.subTest(n=len(z), y=y):
                self.check(arnet.loss_center(z, y), ref_center(z, y))
        loss, grad = arnet.loss_center([0.3, -2.0], 1)
        self.assertEqual((loss, to_list(grad)), (0.0, [0.0, 0.0]))

    @needs("arnet_loss_kmax_mil")
    def test_kmax_mil(self):
        for z, y in self.cases():
            for alpha in (1.0, 4.0):
                with self.subTest(n=len(z), y=y, alpha=alpha):
                    self.check(arnet.loss_kmax_mil(z, y, alpha=alpha), ref_kmax(z, y, alpha))

    @needs("arnet_loss_dmil", "arnet_loss_center", "arnet_loss_kmax_mil")
    def test_extreme_logits_finite(self):
        z = [1e4, -1e4, 0.0, 1e4]
        for fn in (lambda: arnet.loss_dmil(z, 0), lambda: arnet.loss_dmil(z, 1),
                   lambda: arnet.loss_center(z, 0), lambda: arnet.loss_kmax_mil(z, 0),
                   lambda: arnet.loss_kmax_mil(z, 1)):
            loss, grad = fn()
            self.assertTrue(math.isfinite(loss))
            self.assertTrue(all(math.isfinite(g) for g in to_list(grad)))

    @needs("arnet_loss_dmil", "arnet_loss_center", "arnet_loss_kmax_mil")
    def test_bad_arguments(self):
        for call in (lambda: arnet.loss_dmil([], 0), lambda: arnet.loss_dmil([1.0], 2),
                     lambda: arnet.loss_dmil([1.0], 0, alpha=0.0),
                     lambda: arnet.loss_center([], 0), lambda: arnet.loss_center([1.0], -1),
                     lambda: arnet.loss_kmax_mil([1.0], 1, alpha=-1.0)):
            with self.assertRaises(arnet.ArnetError) as cm:
                call()
            self.assertEqual(cm.exception.status, arnet.E_INVALID)
            self.assertTrue(cm.exception.message)


if __name__ == "__main__":
    unittest.main()
