"""SCUBA / SCUFO / Confl-FG assembly: paste each test video's actor onto unrelated backgrounds.

For every variant (a mask source: `box_first`, `truth`, a tracker, ...) and every background source:
- SCUBA: `versions` items per video. Each keeps the actor pixels of its mask (hard 0/1, no
  feathering) and replaces every other pixel with one still background stretched to the frame with
  PIL's BICUBIC (`paste_actor`, bit-exact with the StillMix construction; `composite_clip` is the
  vectorised whole-clip path with identical pixels, and `composite_chunks` the same streamed to the
  item writer 16 frames at a time). Frame span: the original rule keeps the frames from the first
  to the last frame with a box (config `benchmark.span`); a frame of the span without a mask
  becomes pure background. The span comes from the boxes, never from the mask, so every
  variant's items have the same frames.
- SCUFO: for each SCUBA item, one frame of the *decoded* SCUBA item (the codec artefacts the model
  sees there), chosen (seeded; random or middle) inside the centred test clip among frames whose mask
  is not empty, stored as a lossless PNG and repeated at load time; paired by id.
- Confl-FG: on a stripe background, the item's moving actor over a static actor cut with the same
  mask source from the annotated frame nearest the middle of a video of another class; the partner
  is the candidate with the smallest `stable_digest(seed, video_id, candidate_id)`.

The video set is `review/approved.csv` (the review gate minus every stage's skips) restricted to the
test split; it is the same for every variant, so variants differ only in the mask. Work is sharded
by `crc32(video_id) % n_shards`; a shard job writes item files atomically and its shard table
last, then `collect` joins the shard tables into `bench/<variant>/<protocol>-<source>/items.csv`
(docs/contracts.md), checking ids, pairs and counts. Item paths are relative to `results/<dataset>/`.
"""
