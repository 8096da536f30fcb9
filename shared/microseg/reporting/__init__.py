"""What a person sees after a run: object statistics per output (:mod:`microseg.reporting.summary`), overlay
pictures (:mod:`microseg.reporting.overlay`) and the evaluation page (:mod:`microseg.reporting.html`).

NumPy, scikit-image and Pillow only: the ONNX Runtime path uses it without PyTorch.
"""

from __future__ import annotations
