import Foundation
import TensorCore

/// A deterministic, learnable, photo-like image set (the demo's embedded data, `gannet synth`).
///
/// Each class is an object of its own silhouette (disk, ring, triangle, square, star, cross,
/// bar, half disk) and fill (solid, stripes, checks, dots: class k has silhouette k mod 8 and
/// fill k/8 mod 4), drawn at a random place, size and angle, in a hue that only scatters
/// around the class's, over a random background with clutter and a lighting gradient, partly
/// occluded, with sensor noise. The same seed gives the same pixels.
public enum SyntheticImages {
    /// Image `index` of class `label`, shorter side about `size` (the longer up to 1.5×).
    public static func image(
        label: Int, classCount: Int, index: Int, imagesPerClass: Int, size: Int,
        seed: UInt64
    ) -> RGBImage {
        var generator = SeededGenerator(seed: seed, stream: UInt64(label * imagesPerClass + index))
        return render(ClassStyle(label: label, classCount: classCount), size: size, generator: &generator)
    }

    /// What makes a class: the silhouette and the fill pattern of its object, and a hue
    /// that images only scatter around. Class k has shape k mod 8 and pattern k / 8 mod 4.
    struct ClassStyle {
        enum Silhouette: CaseIterable { case disk, ring, triangle, square, star, cross, bar, halfDisk }
        enum Pattern: CaseIterable { case solid, stripes, checks, dots }
        let silhouette: Silhouette
        let pattern: Pattern
        let hue: Float

        init(label: Int, classCount: Int) {
            silhouette = Silhouette.allCases[label % Silhouette.allCases.count]
            pattern = Pattern.allCases[(label / Silhouette.allCases.count) % Pattern.allCases.count]
            hue = Float(label) / Float(classCount)
        }

        /// Whether the object covers (u, v), in object coordinates (radius 1, rotated).
        func covers(_ u: Float, _ v: Float) -> Bool {
            let r = (u * u + v * v).squareRoot()
            let angle = atan2(v, u)
            func polygon(_ sides: Float) -> Bool {
                let sector = 2 * Float.pi / sides
                let local = angle - sector * (angle / sector).rounded(.down) - sector / 2
                return r * cos(local) <= cos(sector / 2)
            }
            switch silhouette {
            case .disk: return r <= 1
            case .ring: return r <= 1 && r >= 0.55
            case .triangle: return polygon(3)
            case .square: return polygon(4)
            case .star: return r <= 0.5 + 0.5 * max(0, cos(5 * angle)) * 1.0 + 0.05
            case .cross: return (abs(u) < 0.3 && abs(v) < 1) || (abs(v) < 0.3 && abs(u) < 1)
            case .bar: return abs(u) < 1 && abs(v) < 0.35
            case .halfDisk: return r <= 1 && v >= -0.1
            }
        }

        /// Whether (u, v) takes the pattern's second colour.
        func isAccent(_ u: Float, _ v: Float) -> Bool {
            switch pattern {
            case .solid: return false
            case .stripes: return sin(u * 9) > 0
            case .checks: return (sin(u * 7) > 0) != (sin(v * 7) > 0)
            case .dots:
                let (a, b) = (u * 2.5 - (u * 2.5).rounded(), v * 2.5 - (v * 2.5).rounded())
                return a * a + b * b < 0.09
            }
        }
    }

    /// One image: a background of random colour under a lighting gradient with clutter
    /// behind the object; the class's object at a random place, size and angle in a hue
    /// scattered ±0.3 around the class's (so colour alone tells little); a small occluder in
    /// front; sensor noise. Each pixel averages 2×2 samples, so edges are soft like a photo's.
    static func render(_ style: ClassStyle, size: Int, generator g: inout SeededGenerator) -> RGBImage {
        func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * g.nextUnitFloat() }
        let short = size + Int(g.next() % UInt64(max(size / 4, 1)))
        let long = short + Int(g.next() % UInt64(max(size / 2, 1)))
        let (width, height) = g.next() & 1 == 0 ? (long, short) : (short, long)
        let extent = Float(min(width, height))
        let radius = extent * uniform(0.32, 0.45)
        let centre = (
            x: Float(width) / 2 + uniform(-0.1, 0.1) * extent, y: Float(height) / 2 + uniform(-0.1, 0.1) * extent
        )
        let rotation = uniform(-0.5, 0.5)
        let (cosR, sinR) = (cos(rotation), sin(rotation))
        let objectHue = style.hue + uniform(-0.3, 0.3)
        let main = hsv(objectHue, uniform(0.5, 1), uniform(0.55, 1))
        let accent = hsv(objectHue + uniform(0.3, 0.7), uniform(0.3, 1), uniform(0.2, 0.9))
        let background = hsv(uniform(0, 1), uniform(0, 0.5), uniform(0.25, 0.85))
        let light = (x: uniform(-0.4, 0.4) / extent, y: uniform(-0.4, 0.4) / extent, base: uniform(0.75, 1.15))
        let clutter = (0..<3).map { _ in
            (
                x: uniform(0, Float(width)), y: uniform(0, Float(height)), r: extent * uniform(0.05, 0.15),
                colour: hsv(uniform(0, 1), uniform(0, 1), uniform(0.2, 1))
            )
        }
        let angle = uniform(0, 2 * Float.pi)
        let occluder = (
            x: centre.x + radius * cos(angle) * uniform(0.3, 1), y: centre.y + radius * sin(angle) * uniform(0.3, 1),
            r: radius * uniform(0.1, 0.2), colour: hsv(uniform(0, 1), uniform(0, 1), uniform(0.2, 1))
        )
        func inside(_ x: Float, _ y: Float, _ disc: (x: Float, y: Float, r: Float, colour: [Float])) -> Bool {
            (x - disc.x) * (x - disc.x) + (y - disc.y) * (y - disc.y) < disc.r * disc.r
        }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                var sum: [Float] = [0, 0, 0]
                for sample in 0..<4 {
                    let px = Float(x) + 0.25 + 0.5 * Float(sample & 1), py = Float(y) + 0.25 + 0.5 * Float(sample >> 1)
                    let dx = px - centre.x, dy = py - centre.y
                    let u = (dx * cosR + dy * sinR) / radius, v = (-dx * sinR + dy * cosR) / radius
                    var colour = background
                    for disc in clutter where inside(px, py, disc) { colour = disc.colour }
                    if style.covers(u, v) { colour = style.isAccent(u, v) ? accent : main }
                    if inside(px, py, occluder) { colour = occluder.colour }
                    let shade = light.base + light.x * dx + light.y * dy
                    for c in 0..<3 { sum[c] += colour[c] * shade }
                }
                for c in 0..<3 {
                    let value = sum[c] / 4 + (g.nextUnitFloat() - 0.5) * 20
                    pixels[(y * width + x) * 3 + c] = UInt8(max(0, min(255, value)))
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// RGB in 0…255 from hue (any real, wraps), saturation and value in 0…1.
    static func hsv(_ hue: Float, _ saturation: Float, _ value: Float) -> [Float] {
        let h = (hue - hue.rounded(.down)) * 6
        let sector = Int(h) % 6, f = h - h.rounded(.down)
        let (p, q, t) = (value * (1 - saturation), value * (1 - saturation * f), value * (1 - saturation * (1 - f)))
        let rgb: (Float, Float, Float) =
            switch sector {
            case 0: (value, t, p)
            case 1: (q, value, p)
            case 2: (p, value, t)
            case 3: (p, q, value)
            case 4: (t, p, value)
            default: (value, p, q)
            }
        return [rgb.0 * 255, rgb.1 * 255, rgb.2 * 255]
    }
}
