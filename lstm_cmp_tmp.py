import sys, numpy as np
from generator.importer.reference import run_reference
from generator.importer.reference_tflm import run_tflm
from generator.numerics import Numerics
from generator.importer.tflite_reader import read_tflite
for m in sys.argv[1:]:
    data=open(m,'rb').read()
    g=read_tflite(data,m)
    x0=g.tensors[g.inputs[0]]
    rng=np.random.default_rng(0)
    for _ in range(3):
        x=rng.integers(-128,128,size=x0.shape).astype(np.dtype(x0.dtype.value))
        try:
            a=run_tflm(data,[x])[0]; b=run_reference(data,[x],Numerics.TFLITE_REF)[0]
            print(m, 'agree' if np.array_equal(a,b) else f'differ n={np.sum(a!=b)} of {a.size} max={np.abs(a.astype(int)-b.astype(int)).max()}')
        except Exception as e: print(m, type(e).__name__, str(e)[:300])
