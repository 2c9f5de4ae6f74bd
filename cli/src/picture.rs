//! Pictures for the demo: a small drawing of a house (sky, hills, walls,
//! roof, door) in colours that vary from one to the next, as a 24-bit BMP
//! that every browser shows, made without an image library.

use rand::Rng;
use rand::rngs::StdRng;

const WIDTH: usize = 160;
const HEIGHT: usize = 120;

/// One picture of a house, as the bytes of a BMP file.
pub fn house(rng: &mut StdRng) -> Vec<u8> {
    let mut shade = |base: [u8; 3], spread: u8| -> [u8; 3] {
        base.map(|channel| channel.saturating_add(rng.random_range(0..=spread)))
    };
    let sky = shade([150, 190, 220], 30);
    let hills = shade([60, 110, 50], 40);
    let wall = shade([200, 190, 160], 50);
    let roof = shade([120, 50, 40], 60);
    let door = shade([70, 45, 30], 30);
    let left = rng.random_range(30..60);
    let width = rng.random_range(60..90);
    let ground = rng.random_range(80..95);
    let eaves = ground - rng.random_range(30..40);
    let ridge = eaves - rng.random_range(15..25);
    let pixel = |x: usize, y: usize| -> [u8; 3] {
        let inside = (left..left + width).contains(&x);
        let middle = left + width / 2;
        if inside && (eaves..ground).contains(&y) {
            let door_x = middle.saturating_sub(6)..middle + 6;
            if door_x.contains(&x) && y > ground - 22 {
                door
            } else {
                wall
            }
        } else if (ridge..eaves).contains(&y) {
            // The roof: wider than the walls, narrowing to the ridge.
            let half = (width / 2 + 6) * (y - ridge) / (eaves - ridge).max(1);
            if x + half >= middle && x <= middle + half {
                roof
            } else {
                sky
            }
        } else if y >= ground.saturating_sub(((x * 7) % 23) / 4) {
            hills
        } else {
            sky
        }
    };
    let row_bytes = WIDTH * 3;
    let size = 54 + row_bytes * HEIGHT;
    let mut bytes = Vec::with_capacity(size);
    // BITMAPFILEHEADER and BITMAPINFOHEADER: 24 bits a pixel, no
    // compression, rows bottom-up (each a multiple of four bytes).
    bytes.extend_from_slice(b"BM");
    bytes.extend_from_slice(&(size as u32).to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&54u32.to_le_bytes());
    bytes.extend_from_slice(&40u32.to_le_bytes());
    bytes.extend_from_slice(&(WIDTH as i32).to_le_bytes());
    bytes.extend_from_slice(&(HEIGHT as i32).to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&24u16.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&((row_bytes * HEIGHT) as u32).to_le_bytes());
    bytes.extend_from_slice(&2835u32.to_le_bytes());
    bytes.extend_from_slice(&2835u32.to_le_bytes());
    bytes.extend_from_slice(&[0; 8]);
    for y in (0..HEIGHT).rev() {
        for x in 0..WIDTH {
            let [red, green, blue] = pixel(x, y);
            bytes.extend_from_slice(&[blue, green, red]);
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_house_is_a_whole_bmp_and_no_two_are_alike() {
        let mut rng = StdRng::seed_from_u64(3);
        let first = house(&mut rng);
        let second = house(&mut rng);
        assert_eq!(&first[..2], b"BM");
        assert_eq!(first.len(), 54 + WIDTH * 3 * HEIGHT);
        assert_eq!(
            u32::from_le_bytes([first[2], first[3], first[4], first[5]]) as usize,
            first.len()
        );
        assert_ne!(first, second);
    }
}
