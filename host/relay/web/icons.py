# Regenerates icon-192.png and icon-512.png (needs Pillow): python3 icons.py
# Draws the tether icon (two nodes joined by a line) as PNG; mirrors icon.svg.
from PIL import Image, ImageDraw
def icon(size):
    s = 4 * size
    k = s / 64.0
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([0, 0, s - 1, s - 1], radius=int(14 * k), fill=(79, 109, 245, 255))
    # cubic bezier M20 44 C20 30 44 34 44 20, stroke 4
    p0, p1, p2, p3 = (20, 44), (20, 30), (44, 34), (44, 20)
    r = 2 * k
    n = 400
    for i in range(n + 1):
        t = i / n
        x = (1-t)**3*p0[0] + 3*(1-t)**2*t*p1[0] + 3*(1-t)*t*t*p2[0] + t**3*p3[0]
        y = (1-t)**3*p0[1] + 3*(1-t)**2*t*p1[1] + 3*(1-t)*t*t*p2[1] + t**3*p3[1]
        d.ellipse([x*k - r, y*k - r, x*k + r, y*k + r], fill="white")
    for cx, cy in (p0, p3):
        d.ellipse([(cx-7)*k, (cy-7)*k, (cx+7)*k, (cy+7)*k], fill="white")
    img = img.resize((size, size), Image.LANCZOS)
    img = img.quantize(colors=32, method=Image.FASTOCTREE)
    return img
for size in (192, 512):
    icon(size).save(f"icon-{size}.png", optimize=True)
