"""Writes reference cases for tests/ in the plain-text format the C tests read.

    case <name>
    prog <text>
    input <f64|f32|i32> <rank> <d0> ... <dk> : v0 v1 ...
    output <f64|f32|i32> <rank> <dims> : v0 v1 ...
    end

Values are written with repr-exact precision (%.17g).  Any number of input and
output lines per case, in order.  `prog` lines (optional, any number) carry
free text for the test that reads the case, e.g. the program of
tools/random_graphs.py; the reader joins them with newlines.
"""

DT = {"float64": "f64", "float32": "f32", "int32": "i32", "int64": "i32"}


def _line(kind, t):
    import torch
    t = t.detach().cpu()
    dt = DT[str(t.dtype).replace("torch.", "")]
    shape = list(t.shape)
    vals = t.reshape(-1).tolist()
    if dt == "i32":
        body = " ".join(str(int(v)) for v in vals)
    else:
        body = " ".join("%.17g" % v for v in vals)
    return "%s %s %d %s : %s\n" % (kind, dt, len(shape), " ".join(str(d) for d in shape), body)


class RefWriter:
    def __init__(self, path):
        self.f = open(path, "w")

    def case(self, name, inputs, outputs, prog=()):
        self.f.write("case %s\n" % name)
        for line in prog:
            assert "\n" not in line
            self.f.write("prog %s\n" % line)
        for t in inputs:
            self.f.write(_line("input", t))
        for t in outputs:
            self.f.write(_line("output", t))
        self.f.write("end\n")

    def close(self):
        self.f.close()
