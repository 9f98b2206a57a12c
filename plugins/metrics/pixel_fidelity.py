"""PSNR, SSIM and L1 of each output against its target: the fidelity scores of super-resolution and
paired translation.

Protocol: for every (input, target) pair of the split, the generator's output for the input (in
metric space: 8-bit quantised in [-1, 1]) is compared with the target. PSNR = 10 log10(R^2 / MSE)
per image, R = 2 (the [-1, 1] range), then averaged over images, as super-resolution papers report
it (Ledig et al. 2017, table 2; they crop a 4-pixel border and score the luminance channel of colour
images: here the whole image, every channel). SSIM (Wang, Bovik, Sheikh & Simoncelli 2004, "Image
Quality Assessment: From Error Visibility to Structural Similarity"): an 11x11 Gaussian window of
sigma 1.5, K1 = 0.01, K2 = 0.03, the same range R, averaged over the windows that lie inside the image
(as the paper's reference code and scikit-image do: 18x18 of a 28x28 image), then over images
(torchmetrics' SSIM map; the tests check the result against scikit-image's). L1 = mean absolute difference, in [-1, 1] units.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import DataInfo, Metric, MetricValue

DATA_RANGE = 2.0   # images lie in [-1, 1]
WINDOW, SIGMA = 11, 1.5   # Wang et al. 2004's Gaussian window


class PixelFidelity(Metric):
    """PSNR, SSIM and L1 of each output against its target (paired tasks: super-resolution, translation)."""

    name = "pixel_fidelity"
    paper = ("Wang, Z., Bovik, A. C., Sheikh, H. R. & Simoncelli, E. P. (2004). Image Quality Assessment: From "
             "Error Visibility to Structural Similarity. IEEE Transactions on Image Processing 13(4).")
    needs_pairs = True

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        if not data.is_image or len(data.shape) != 3:
            return f"compares images, {dataset_name} holds {data.kind} of shape {tuple(data.shape)}"
        if min(data.shape[1:]) < WINDOW:
            return f"SSIM's 11x11 window needs images of at least 11 px, {dataset_name} has {tuple(data.shape)}"
        return None

    def compute(self, ctx, split: str) -> list[MetricValue]:
        from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

        outputs, targets = ctx.paired(split)
        n = int(outputs.shape[0])
        psnr = peak_signal_noise_ratio(outputs, targets, data_range=DATA_RANGE, reduction="none", dim=(1, 2, 3))
        # torchmetrics' map covers every pixel, padding the borders by reflection; Wang et al.'s index
        # (their reference code, and scikit-image) averages only the windows inside the image.
        _, ssim_map = structural_similarity_index_measure(outputs, targets, data_range=DATA_RANGE, kernel_size=WINDOW,
                                                          sigma=SIGMA, reduction="none", return_full_image=True)
        inside = (WINDOW - 1) // 2
        ssim = ssim_map[..., inside:-inside, inside:-inside].flatten(1).mean(dim=1)
        l1 = (outputs - targets).abs().flatten(1).mean(dim=1)
        values = []
        for name, per_image, higher in (("psnr", psnr, True), ("ssim", ssim, True), ("l1", l1, False)):
            values.append(MetricValue(name, float(per_image.double().mean()), higher_is_better=higher, num_samples=n,
                                      reference_split=split, extra={"std": float(per_image.double().std())}))
        return values


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(PixelFidelity)
