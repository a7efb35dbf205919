"""Writes the small image fixtures of the DataIO tests (run with Pillow installed):
JPEGs in CMYK, grey and progressive form, PNGs with alpha, a palette and 16-bit grey.
Each is 16x16 with four flat quadrants so decoders can be checked by colour."""
import os
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
quadrants = [(255, 255, 255), (0, 0, 0), (0, 255, 255), (255, 255, 0)]  # white, black, cyan, yellow


def quadrant_image(mode, colours):
    image = Image.new(mode, (16, 16))
    for index, colour in enumerate(colours):
        x, y = (index % 2) * 8, (index // 2) * 8
        image.paste(colour, (x, y, x + 8, y + 8))
    return image


rgb = quadrant_image("RGB", quadrants)
# Adobe CMYK as Photoshop writes it (Pillow stores it inverted with an Adobe marker).
quadrant_image("CMYK", [(0, 0, 0, 0), (0, 0, 0, 255), (255, 0, 0, 0), (0, 0, 255, 0)]).save(
    os.path.join(here, "cmyk.jpg"), quality=100)
quadrant_image("L", [255, 0, 128, 64]).save(os.path.join(here, "grey.jpg"), quality=100)
rgb.save(os.path.join(here, "progressive.jpg"), quality=100, progressive=True, subsampling=0)
rgba = rgb.convert("RGBA")
rgba.putalpha(quadrant_image("L", [0, 128, 255, 10]))
rgba.save(os.path.join(here, "alpha.png"))
rgb.convert("P", palette=Image.ADAPTIVE, colors=4).save(os.path.join(here, "palette.png"))
quadrant_image("I;16", [0xFFFF, 0x0000, 0x1234, 0x80FF]).save(os.path.join(here, "grey16.png"))
