-- description: Codes of one item in every modality, from each modality's current tokenizer version
-- param: item_id VARCHAR (required) the item to look up
SELECT item_id, modality, version, codes, suffix, sid
FROM current_codes
WHERE item_id = $item_id
ORDER BY modality;
