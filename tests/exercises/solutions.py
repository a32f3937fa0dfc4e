"""The model solutions of the exercises, as the bodies that replace each template's
``raise NotImplementedError("KEY")`` line. They live only here, in the tests, never in the
installed package (test_exercise.py checks that too)."""

SOLUTIONS = {
    # exercise 1: blocks
    "MatMul.forward": """
self.cache = (X, theta)
return X @ theta""",
    "MatMul.backward": """
X, theta = self.cache
return np.outer(upstream, theta), X.T @ upstream""",
    "Sub.forward": """
return mu - Y""",
    "Sub.backward": """
return upstream, -upstream""",
    "Square.forward": """
self.cache = delta
return delta ** 2""",
    "Square.backward": """
return (upstream * 2 * self.cache,)""",
    "Sum.forward": """
self.cache = np.shape(s)
return np.sum(s)""",
    "Sum.backward": """
return (np.broadcast_to(upstream, self.cache).copy(),)""",
    "Identity.forward": """
return x""",
    "Identity.backward": """
return (upstream,)""",
    # exercise 2: linear regression
    "loss_and_gradient": """
matmul, sub, square, total = MatMul(), Sub(), Square(), Sum()
L = total.forward(square.forward(sub.forward(matmul.forward(X, theta), Y)))
(ds,) = total.backward(np.ones_like(L))
(ddelta,) = square.backward(ds)
dmu, _ = sub.backward(ddelta)
_, dtheta = matmul.backward(dmu)
return float(L), dtheta""",
    "gradient_descent": """
theta = rng.standard_normal(X.shape[1])
for _ in range(steps):
    theta = theta - lr * loss_and_gradient(theta, X, Y)[1]
return theta""",
    "sgd": """
n = len(X)
theta = rng.standard_normal(X.shape[1])
for _ in range(epochs):
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]
        theta = theta - lr * (n / len(rows)) * loss_and_gradient(theta, X[rows], Y[rows])[1]
return theta""",
    # exercise 3: the graph
    "Value.__mul__ backward": """
self.grad += other.data * out.grad
other.grad += self.data * out.grad""",
    "topological_order": """
order, seen, stack = [], set(), [(root, False)]
while stack:
    node, expanded = stack.pop()
    if expanded:
        order.append(node)
        continue
    if id(node) in seen:
        continue
    seen.add(id(node))
    stack.append((node, True))
    stack.extend((p, False) for p in node.parents if id(p) not in seen)
return order""",
    "backward": """
root.grad = 1.0
for node in reversed(topological_order(root)):
    node._backward()""",
    # exercise 4: activations
    "ReLU.forward": """
self.cache = x > 0
return np.maximum(x, 0)""",
    "ReLU.backward": """
return (upstream * self.cache,)""",
    "Sigmoid.forward": """
e = np.exp(-np.abs(x))
y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)
self.cache = y
return y""",
    "Sigmoid.backward": """
y = self.cache
return (upstream * y * (1 - y),)""",
    "Tanh.forward": """
self.cache = np.tanh(x)
return self.cache""",
    "Tanh.backward": """
return (upstream * (1 - self.cache ** 2),)""",
    # exercise 5: softmax with cross-entropy
    "SoftmaxCrossEntropy.forward": """
z = logits - logits.max(axis=1, keepdims=True)
logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
n = len(labels)
self.cache = (np.exp(logp), labels)
return -logp[np.arange(n), labels].mean()""",
    "SoftmaxCrossEntropy.backward": """
p, labels = self.cache
g = p.copy()
g[np.arange(len(labels)), labels] -= 1
return (g * (upstream / len(labels))).astype(p.dtype), None""",
    # exercise 6: the MLP
    "Linear.forward": """
self.cache = (x, W)
return x @ W.T + b""",
    "Linear.backward": """
x, W = self.cache
return upstream @ W, upstream.T @ x, upstream.sum(axis=0)""",
    "train": """
k = int(y.max()) + 1
params = init_params([X.shape[1], hidden, k], rng)
n = len(X)
for _ in range(epochs):
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]
        (W1, b1), (W2, b2) = params
        first, act, second, loss = Linear(), ReLU(), Linear(), SoftmaxCrossEntropy()
        loss.forward(second.forward(act.forward(first.forward(X[rows], W1, b1)), W2, b2), y[rows])
        dz, _ = loss.backward(1.0)
        dh, dW2, db2 = second.backward(dz)
        (da,) = act.backward(dh)
        _, dW1, db1 = first.backward(da)
        params = [(W1 - lr * dW1, b1 - lr * db1), (W2 - lr * dW2, b2 - lr * db2)]
return params""",
    "predict": """
(W1, b1), (W2, b2) = params
return (np.maximum(X @ W1.T + b1, 0) @ W2.T + b2).argmax(axis=1)""",
}
