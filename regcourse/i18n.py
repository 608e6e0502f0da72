"""Words in figures, in the reader's language (issue 13, item 5).

The English and the Chinese edition of the book show the outputs of ONE execution of each chapter (the same
numbers, the same random draws). A figure that carries words therefore has to exist in both languages after
that one execution. The mechanism, one code path with the language passed in:

* a chapter draws its figure with a function of the language, ``draw(lang)``, and labels it with
  ``tr("epoch", lang)`` (``tr`` looks the text up in TERMS; text it does not know stays as it is);
* ``bilingual(draw)`` calls it once per language (the data were computed once; drawing costs milliseconds)
  and displays one output holding every version: an HTML block with one ``<img lang=...>`` per language,
  the English one visible. The book's stylesheet (book/_ext/static/language_switch.css) shows, on a page
  of ``<html lang="zh-CN">``, the Chinese image instead. The output also carries the English PNG, so
  Jupyter front ends without HTML show the English figure;
* outside the book (a learner's own Jupyter, Colab), ``tr(text)`` without a language follows the environment
  variable REGCOURSE_LANG (``en`` or ``zh_CN``; default ``en``), so a Chinese-speaking learner can set it
  once and get Chinese labels from the same code.

(Words that a chapter computes and glues into its prose, "lower in every seed", are translated when the
Chinese edition is built: book/_ext/glue_i18n.py and locales/zh_CN/glued.po.)

Chinese glyphs need a CJK font in matplotlib: ``use_cjk_font()`` adds Noto Sans CJK (Debian's
fonts-noto-cjk, installed by scripts/setup.sh) to ``font.family`` after the default family, as the font
matplotlib falls back to for glyphs the default font lacks, so Latin text and math look exactly as before.
"""
from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable

LANGUAGES = ("en", "zh_CN")
HTML_LANG = {"en": "en", "zh_CN": "zh-CN"}
ENV_VAR = "REGCOURSE_LANG"

# English text of the figures -> its translation, in the terms of D2L's Chinese edition (locales/README.md).
TERMS: dict[str, dict[str, str]] = {
    "zh_CN": {
        "figure": "图",
        "epoch": "迭代周期",
        "accuracy": "准确率",
        "test accuracy": "测试准确率",
        "training accuracy": "训练准确率",
        "loss": "损失",
        "training loss": "训练损失",
        "train loss": "训练损失",
        "test loss": "测试损失",
        "validation loss": "验证损失",
        "train": "训练",
        "test": "测试",
        "validation": "验证",
        "seed": "随机种子",
        "weight decay": "权重衰减",
        "dropout": "暂退法",
        "drop probability": "暂退概率",
        "learning rate": "学习率",
        "cross-entropy loss": "交叉熵损失",
        "cross-entropy loss (log scale)": "交叉熵损失（对数坐标）",
        "training loss (half squared error)": "训练损失（半平方误差）",
        "loss (half squared error, mean)": "损失（半平方误差，均值）",
        "λ (weight decay)": "λ（权重衰减）",
        "test loss − train loss": "测试损失 − 训练损失",
        "test loss − train loss (eval mode)": "测试损失 − 训练损失（评估模式）",
        "predicted probability": "预测概率",
        "class": "类别",
        "true weights": "真实权重",
        "step t": "步数 t",
        "SGD step": "SGD 步数",
        "calibrated": "完全校准",
        "mean confidence in the bin": "该区间内的平均置信度",
        "fraction right in the bin": "该区间内的正确比例",
        "individual passes": "单次前向传播",
        "path": "路径",
        "L2 ball": "L2 球",
        "L1 ball": "L1 球",
        # dropout chapters 03-06 (figures)
        "from scratch": "从零实现",
        "train acc": "训练准确率",
        "test acc": "测试准确率",
        "Loss": "损失",
        "Accuracy": "准确率",
        "no dropout": "无暂退法",
        "Gaussian": "高斯噪声",
        "train (eval mode)": "训练（评估模式）",
        "Training and test loss": "训练损失和测试损失",
        "Generalization gap": "泛化差距",
        "Test accuracy": "测试准确率",
        "Reliability diagram, one line per seed": "可靠性图，每个随机种子一条线",
        "hidden 1": "隐藏层 1",
        "hidden 2": "隐藏层 2",
        "before mask, eval mode": "掩码之前，评估模式",
        "after mask, train mode": "掩码之后，训练模式",
        "per-unit variance across the probe batch,\naveraged over units":
            "每个单元在探测批量上的方差，\n对所有单元取平均",
        "confidently classified": "有把握的分类",
        "ambiguous": "模棱两可",
        "true class": "真实类别",
        "mean over T = {T} passes ± one standard deviation": "T = {T} 次前向传播的均值 ± 一个标准差",
        "t-shirt": "T恤",
        "trouser": "裤子",
        "pullover": "套衫",
        "dress": "连衣裙",
        "coat": "外套",
        "sandal": "凉鞋",
        "shirt": "衬衫",
        "sneaker": "运动鞋",
        "bag": "包",
        "ankle boot": "短靴",
        "lr": "学习率",
        "‖w‖, all weights": "‖w‖，全部权重",
        "Dropout network: weight norm": "暂退法网络：权重范数",
        "training loss (running, dropout on)": "训练损失（训练中累计，启用暂退法）",
        "Training loss of each epoch": "每个迭代周期的训练损失",
        "in": "输入",
        "out": "输出",
        "full network\n(evaluation)": "完整网络\n（评估）",
        "mask": "掩码",
        "(one training step)": "（一个训练步）",
        "Drawn: 12 of the 784 inputs (in), the first 10 of the 256 units of each hidden layer (h1, h2), the 10 outputs":
            "图中画出：784 个输入中的 12 个（输入），每个隐藏层 256 个单元中的前 10 个（h1、h2），以及 10 个输出",
        "After 40 epochs on 1,000 images (dot: mean; bar: range of 3 seeds; gray: each seed)":
            "在 1,000 张图像上训练 40 个迭代周期后（圆点：均值；误差棒：3 个随机种子的范围；灰点：每个随机种子）",
        "loss, evaluation mode (log scale)": "损失，评估模式（对数坐标）",
        "Loss on 500 training and 500 test images": "500 张训练图像和 500 张测试图像上的损失",
        # book/weight_decay/01-05 (matplotlib's mathtext has no CJK glyphs: a label with Chinese uses Unicode math)
        "step": "步数",
        "$w_t / w_0$ (decay alone)": "wₜ / w₀（仅衰减）",
        "ηλ < 2: shrinks (with sign flips if ηλ > 1)": "ηλ < 2：收缩（ηλ > 1 时符号交替）",
        "ηλ > 2: grows, flipping sign": "ηλ > 2：增长，符号交替",
        "Weight decay without data: $w_t = (1 - ηλ)^t w_0$": "没有数据时的权重衰减：wₜ = (1 − ηλ)ᵗ w₀",
        "L1 (soft-thresholding)": "L1（软阈值）",
        "L2 (weight decay)": "L2（权重衰减）",
        "input index i (only 0, 1, 2 matter)": "输入下标 i（只有 0、1、2 起作用）",
        "weight w_i": "权重 w_i",
        "L1 sets irrelevant weights to exactly zero; L2 shrinks them": "L1 把无关的权重恰好置为零；L2 只缩小它们",
        "minimizer of L + λ/2 ||w||²": "L + λ/2 ||w||² 的最小值点",
        "h = 1: where each optimizer ends (mean of 256 runs)": "h = 1：各优化器的终点（256 次运行的均值）",
        "h = 0: how fast the decay acts (first 400 steps)": "h = 0：衰减作用的快慢（前 400 步）",
        "weight (mean over runs)": "权重（各次运行的均值）",
        "Weight decay on 20 examples with 200 inputs": "20 个样本、200 个输入上的权重衰减",
        "lr 0.003, half squared error": "学习率 0.003，半平方误差",
        "lr 0.03, half squared error": "学习率 0.03，半平方误差",
        "lr 0.05, half squared error": "学习率 0.05，半平方误差",
        "lr 0.03, nn.MSELoss (no 1/2)": "学习率 0.03，nn.MSELoss（没有 1/2）",
        "λ = 0: which learning rates converge": "λ = 0：哪些学习率收敛",
        "with zero_grad (sgd above)": "调用 zero_grad（上文的 sgd）",
        "without zero_grad": "不调用 zero_grad",
        "λ = 0, lr 0.003": "λ = 0，学习率 0.003",
        "{label}, final epoch (mean of {n} seeds)": "{label}，最后一个迭代周期（{n} 个随机种子的均值）",
        "test, predicting the constant 0.05": "测试，预测常数 0.05",
        "loss after 100 epochs (half squared error)": "100 个迭代周期后的损失（半平方误差）",
        "Final training and test loss against λ (band: min to max over seeds)":
            "最终的训练损失和测试损失随 λ 的变化（阴影：各随机种子的最小值到最大值）",
        "Loss after 50 epochs": "50 个迭代周期后的损失",
        "Accuracy after 50 epochs": "50 个迭代周期后的准确率",
        "{label} (mean of {n} seeds)": "{label}（{n} 个随机种子的均值）",
        "layer {i}": "第 {i} 层",
        "Frobenius norm of each weight matrix after training": "训练后各权重矩阵的 Frobenius 范数",
        "test loss (first 500 test images)": "测试损失（前 500 张测试图像）",
        "Test loss during training (mean and range of 3 seeds)": "训练过程中的测试损失（3 个随机种子的均值和范围）",
        "{name} penalty": "{name} 惩罚",
        "solution at λ = {lambd}": "λ = {lambd} 时的解",
        "‖w‖₂ ≤ ‖w_λ‖₂ (left)": "‖w‖₂ ≤ ‖w_λ‖₂（左）",
        "‖w‖₁ ≤ ‖w_λ‖₁ (right)": "‖w‖₁ ≤ ‖w_λ‖₁（右）",
        "solution path, λ from 0.001 to 10": "解的路径，λ 从 0.001 到 10",
        "curvature h along an eigenvector of H": "沿 H 的一个特征向量方向的曲率 h",
        "factor applied to w* along it": "w* 在该方向上所乘的因子",
        "L2 keeps the curved directions and removes the flat ones (dots: numerical solve)":
            "L2 保留弯曲的方向、去掉平坦的方向（圆点：数值求解）",
        "gradient descent, t = {t} steps": "梯度下降，t = {t} 步",
        "Stopping after t steps (η = {eta}) versus L2 with λ = 1/(ηt)":
            "t 步后停止（η = {eta}）与 λ = 1/(ηt) 的 L2 对比",
        "seed {seed}: validation": "随机种子 {seed}：验证",
        "seed {seed}: training (running mean)": "随机种子 {seed}：训练（累计平均）",
        "1,000 training images: validation loss and the kept epoch (dots)":
            "1,000 张训练图像：验证损失与保留的迭代周期（圆点）",
    },
}


def language(lang: str | None = None) -> str:
    """`lang`, or the environment's REGCOURSE_LANG, or "en"; a clear error for anything else."""
    lang = lang or os.environ.get(ENV_VAR) or "en"
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (from the argument or ${ENV_VAR}); use one of {LANGUAGES}")
    return lang


def tr(text: str, lang: str | None = None) -> str:
    """The words of a figure in language `lang` (default: $REGCOURSE_LANG, else English).

    >>> tr("epoch", "zh_CN"), tr("epoch", "en"), tr("not a known label", "zh_CN")
    ('迭代周期', 'epoch', 'not a known label')
    """
    lang = language(lang)
    return TERMS.get(lang, {}).get(text, text)


_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "AR PL UMing CN")


def use_cjk_font() -> str | None:
    """Let matplotlib draw Chinese: register a CJK font installed on the system and put it after the default
    sans-serif font (matplotlib falls back glyph by glyph). Returns its name, or None if there is none."""
    import matplotlib as mpl
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    if not any(name in known for name in _CJK_FONTS):
        # The font cache predates the font's installation: add one file it missed (the regular sans first).
        paths = [p for p in font_manager.findSystemFonts() if "cjk" in p.lower() or "wqy" in p.lower()]
        for path in sorted(paths, key=lambda p: ("SansCJK-Regular" not in p, "Regular" not in p, p)):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError):
                continue
            known = {f.name for f in font_manager.fontManager.ttflist}
            if any(name in known for name in _CJK_FONTS):
                break
    name = next((n for n in _CJK_FONTS if n in known), None)
    if name is None:
        return None
    # matplotlib falls back glyph by glyph along font.family (a generic family counts as its first font):
    # Latin text and math keep the default font, Chinese characters come from the CJK font.
    families = list(mpl.rcParams["font.family"])
    if name not in families:
        mpl.rcParams["font.family"] = [*families, name]
    return name


class Bilingual:
    """One figure per language, displayed as one output (see the module's docstring)."""

    def __init__(self, pngs: dict[str, bytes]):
        self.pngs = pngs

    def _repr_html_(self) -> str:
        imgs = []
        for i, (lang, png) in enumerate(self.pngs.items()):
            data = base64.b64encode(png).decode("ascii")
            hidden = "" if i == 0 else ' style="display: none"'
            imgs.append(f'<img lang="{HTML_LANG[lang]}" alt="{html.escape(tr("figure", lang))}" '
                        f'src="data:image/png;base64,{data}"{hidden}>')
        return '<div class="regcourse-figure">' + "".join(imgs) + "</div>"

    def _repr_png_(self) -> bytes:
        return next(iter(self.pngs.values()))


def bilingual(draw: Callable[[str], object], langs: tuple[str, ...] = LANGUAGES, dpi: int = 100) -> Bilingual:
    """Draw a figure once per language with ``draw(lang)`` (which returns a matplotlib Figure, or draws on
    the current one) and return one displayable output holding every version."""
    import matplotlib.pyplot as plt

    if any(lang != "en" for lang in langs):
        use_cjk_font()
    pngs = {}
    for lang in langs:
        fig = draw(language(lang)) or plt.gcf()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        pngs[lang] = buf.getvalue()
    return Bilingual(pngs)
