"""What the page says of each model and weight set: the choices' labels and one plain sentence each."""
from __future__ import annotations

from ..contract import AUTO_KEY, BICUBIC_KEY, BUNDLED_SET, ESPCN_FACTORS, MODELS, OFFICIAL_SET, PHOTO_SET

MODEL_LABELS = ({AUTO_KEY: "Best measured for this factor (auto)"}
                | {key: f"{spec.title} ({key})" for key, spec in MODELS.items()} | {BICUBIC_KEY: "Bicubic baseline (bicubic)"})
# One plain sentence per choice: what it is and when it is the better pick.
MODEL_HELP = {
    AUTO_KEY: "Runs, for your factor, the network and weights with the largest measured gain over bicubic on "
              "held-out photographs (the quality table): mostly ESPCN at the native factor (×2, ×3 or ×4) "
              "that measured best for yours, resized to it.",
    "srcnn_dynamic": "SRCNN that takes the factor as an input (one ONNX file for every factor): it sharpens for "
                     "exactly the factor you choose. The OpenMMLab deployment tutorial's model.",
    "srcnn_x3": "SRCNN trained at a fixed ×3; at other factors its ×3 result is resized bicubically to your factor.",
    **{f"espcn_x{f}": f"ESPCN, the sub-pixel network of PyTorch's ONNX Runtime tutorial, trained for ×{f}: sharpens "
                      f"brightness at ×{f} (colour is upscaled bicubically), then resized to your factor if it differs. "
                      "2–7× faster than SRCNN, and sharper than it at every factor on the held-out photographs."
       for f in ESPCN_FACTORS},
    BICUBIC_KEY: "Plain bicubic interpolation: the baseline every network is measured against.",
}
WEIGHT_LABELS = {BUNDLED_SET: "Trained by this project", OFFICIAL_SET: "The tutorials' original checkpoints",
                 PHOTO_SET: "Trained for JPEG photographs"}
# One plain sentence per weight set: where it comes from and what it is good at.
WEIGHT_HELP = {
    BUNDLED_SET: "SRCNN and ESPCN trained by this project on photographs (SRCNN at every factor, with a learnt "
                 "gain per factor), shipped with it: the larger gain at most factors.",
    OFFICIAL_SET: "the tutorials' own checkpoints: OpenMMLab's SRCNN, trained at ×4 only, and the ESPCN of PyTorch's "
                  "example; downloaded on first start.",
    PHOTO_SET: "ESPCN trained by this project on inputs saved as JPEG: it removes the 8×8 blocks and ringing while "
               "it upscales. 'best' picks it by itself for JPEG inputs of ordinary quality.",
}
