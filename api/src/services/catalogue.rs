//! The preset paintings: read from a directory at start-up, stored in S3 as soon as it
//! answers, listed at `/v1/styles` (`routes::styles`), and read by workers from storage
//! by id.

use serde::Serialize;
use std::path::Path;
use stylize_core::images::{self, ImageLimits, OutputFormat};
use stylize_core::job::keys;
use stylize_shared::storage::{Storage, StorageError};

const THUMBNAIL_SIDE: u32 = 320;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preset {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub year: String,
    #[serde(skip)]
    pub size: (u32, u32),
    pub thumbnail: String,
}

#[derive(Debug, Default)]
pub struct Catalogue {
    presets: Vec<Preset>,
}

/// The presets' images and thumbnails, read and made at start-up, to be stored:
/// (key, bytes, content type).
pub struct PresetFiles(Vec<(String, Vec<u8>, &'static str)>);

impl PresetFiles {
    /// Stores every image and thumbnail (again, when a try failed part-way).
    pub async fn store(&self, storage: &Storage) -> Result<(), StorageError> {
        for (key, bytes, content_type) in &self.0 {
            storage.put(key, bytes.clone(), content_type).await?;
        }
        tracing::info!(files = self.0.len(), "presets stored");
        Ok(())
    }
}

/// (file, work, artist, year) rows of a Markdown table in ATTRIBUTION.md.
fn credits(dir: &Path) -> Vec<[String; 4]> {
    let Ok(text) = std::fs::read_to_string(dir.join("../ATTRIBUTION.md")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let cells: Vec<String> = line
                .trim()
                .strip_prefix('|')?
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect();
            (cells.len() >= 4 && cells[0].contains('.')).then(|| {
                [
                    cells[0].clone(),
                    cells[1].clone(),
                    cells[2].clone(),
                    cells[3].clone(),
                ]
            })
        })
        .collect()
}

impl Catalogue {
    /// Reads every image in `dir`, makes its thumbnail, and lists it; the images and
    /// thumbnails are returned to be stored.
    pub fn read(dir: &str) -> anyhow::Result<(Self, PresetFiles)> {
        let dir = Path::new(dir);
        let credits = credits(dir);
        let mut presets = Vec::new();
        let mut files = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("preset directory {}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .collect();
        entries.sort();
        for path in entries {
            let (Some(file), Some(id)) = (
                path.file_name().and_then(|n| n.to_str()),
                path.file_stem().and_then(|n| n.to_str()),
            ) else {
                continue;
            };
            let bytes = std::fs::read(&path)?;
            let Ok(image) = images::decode(&bytes, &ImageLimits::default()) else {
                tracing::warn!(file, "skipping a preset that is not a usable image");
                continue;
            };
            let thumbnail = images::encode(
                &images::resize_longest(&image, THUMBNAIL_SIDE),
                OutputFormat::Jpeg,
            )?;
            files.push((keys::preset_image(id), bytes, "application/octet-stream"));
            files.push((keys::preset_thumbnail(id), thumbnail, "image/jpeg"));
            let credit = credits.iter().find(|row| row[0] == file);
            let cell = |i: usize| credit.map(|row| row[i].clone()).unwrap_or_default();
            presets.push(Preset {
                id: id.to_owned(),
                title: credit
                    .map(|row| row[1].clone())
                    .unwrap_or_else(|| id.replace('-', " ")),
                artist: cell(2),
                year: cell(3),
                size: image.dimensions(),
                thumbnail: format!("/v1/styles/{id}/thumbnail"),
            });
        }
        tracing::info!(count = presets.len(), "presets read");
        Ok((Catalogue { presets }, PresetFiles(files)))
    }

    pub fn get(&self, id: &str) -> Option<&Preset> {
        self.presets.iter().find(|preset| preset.id == id)
    }

    pub fn all(&self) -> &[Preset] {
        &self.presets
    }

    /// The presets' ids, as submissions name them.
    pub fn ids(&self) -> Vec<&str> {
        self.presets
            .iter()
            .map(|preset| preset.id.as_str())
            .collect()
    }
}
